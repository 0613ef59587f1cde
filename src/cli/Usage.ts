/**
 * How the command line answers a bad invocation: the error in one line per mistake and where to
 * read more (`see aiconexus agent call --help`), on stderr; not the whole help text. `--help`,
 * `--version` and help for a command without a handler print as effect/cli does.
 *
 * @since 0.1.0
 */
import { CliOutput } from "effect/cli"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { printable } from "./Terminal.ts"

/** The lines printed for a bad invocation of `commandPath`. */
export const usageLines = (commandPath: ReadonlyArray<string>, errors: ReadonlyArray<{ readonly message: string }>): ReadonlyArray<string> => [
  ...errors.map((error) => `error: ${printable(error.message.split("\n")[0]!)}`),
  `see ${commandPath.join(" ")} --help`
]

/** The CLI's presenter: bad invocations as `usageLines` on stderr, the rest as by default. */
export const layer = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.forEach(usageLines(event.commandPath, event.errors), (line) => Console.error(line), { discard: true })
      : CliOutput.defaultPresenter.present(event)
})
