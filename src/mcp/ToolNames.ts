/**
 * MCP tool names for a trusted peer's capabilities: valid everywhere (`[A-Za-z0-9_-]`, at most
 * 64 characters, what the strictest LLM clients accept) and stable (the same DID and capability
 * id always give the same name, so a client's saved permissions keep working).
 *
 * A name is the capability id made safe, then `__` and 7 characters of a hash of the DID; when
 * the id had to be changed or cut, 6 characters of a hash of the id follow, so two ids never
 * share a name.
 *
 * @since 0.1.0
 */

/** 32-bit FNV-1a of a string's UTF-16 units, in base 36. */
const hash = (text: string, length: number): string => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h.toString(36).padStart(7, "0").slice(-length)
}

/** The valid characters of a tool name. */
export const VALID = /^[A-Za-z0-9_-]{1,64}$/

/** The tool name of `capability` served by `did`. */
export const toolName = (did: string, capability: string): string => {
  const safe = capability.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40)
  const changed = safe !== capability
  return `${safe === "" ? "capability" : safe}__${hash(did, 7)}${changed ? `_${hash(capability, 6)}` : ""}`
}
