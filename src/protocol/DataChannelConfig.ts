/**
 * The settings of a data channel (W3C WebRTC section 6.2, with the limits of RFC 8832), checked
 * before they reach the stack. Browser-safe: no Node APIs.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Port } from "./SdpSyntax.ts"
import { isMaxUtf8Bytes } from "./Utf8.ts"


const MAX_DATA_CHANNEL_STRING_BYTES = 65535

/** The options of `RTCPeerConnection.createDataChannel` (W3C WebRTC section 6.2, RFC 8832 limits). */
export const DataChannelConfig = Schema.Struct({
  label: Schema.String.check(isMaxUtf8Bytes(MAX_DATA_CHANNEL_STRING_BYTES)),
  ordered: Schema.optionalKey(Schema.Boolean),
  maxRetransmits: Schema.optionalKey(Port),
  maxPacketLifeTime: Schema.optionalKey(Port),
  protocol: Schema.optionalKey(Schema.String.check(isMaxUtf8Bytes(MAX_DATA_CHANNEL_STRING_BYTES))),
  negotiated: Schema.optionalKey(Schema.Boolean),
  id: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65534 })))
}).check(
  Schema.makeFilter((c) => {
    const issues: Array<Schema.FilterIssue> = []
    if (c.maxRetransmits !== undefined && c.maxPacketLifeTime !== undefined) {
      issues.push({ path: ["maxPacketLifeTime"], issue: "maxRetransmits and maxPacketLifeTime cannot both be set" })
    }
    if (c.negotiated === true && c.id === undefined) {
      issues.push({ path: ["id"], issue: "a negotiated channel needs an id" })
    }
    if (c.negotiated !== true && c.id !== undefined) {
      issues.push({ path: ["id"], issue: "an id is only given with negotiated: true" })
    }
    return issues
  })
)

/** The options of `RTCPeerConnection.createDataChannel`. */
export type DataChannelConfig = typeof DataChannelConfig.Type
