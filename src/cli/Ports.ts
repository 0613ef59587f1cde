/**
 * Port flags: an integer 0-65535, refused at parse time with the flag's name otherwise.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import { Flag } from "effect/cli"

/** A TCP port (0 picks a free one). */
export const Port = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

/** `--NAME PORT`. */
export const portFlag = (name: string) => Flag.Int(name).pipe(Flag.withSchema(Port))
