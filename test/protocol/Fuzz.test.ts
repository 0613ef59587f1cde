/**
 * A bounded slice of the fuzzing that `npm run bench -- hostile` runs at a million inputs: every
 * decoder a peer or client reaches returns a value or its own typed error, never throws.
 */
import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import * as Fuzz from "./fuzz.ts"

const MUTANTS = 1500
const ARBITRARY = 300

describe("fuzzing every decoder (CI slice)", () => {
  for (const target of Fuzz.targets) {
    it(`${target.name}: mutated seeds and arbitrary inputs get a value or a typed error`, () => {
      const tally = Fuzz.tally(target)
      // Mutations of valid seeds, from generator seeds fast-check picks (and shrinks on a finding).
      fc.assert(
        fc.property(fc.integer(), (seed) => {
          const before = tally.failures
          Fuzz.runOne(target, Fuzz.mutant(target, Fuzz.prng(seed)), tally)
          return tally.failures === before
        }),
        { numRuns: MUTANTS, seed: 18 }
      )
      // Inputs that owe nothing to the seeds.
      const arbitrary: fc.Arbitrary<string | Uint8Array> = target.input === "bytes"
        ? fc.uint8Array({ maxLength: 64 })
        : fc.oneof(fc.string({ unit: "binary", maxLength: 200 }), fc.json({ maxDepth: 4 }))
      fc.assert(
        fc.property(arbitrary, (input) => {
          const before = tally.failures
          Fuzz.runOne(target, input, tally)
          return tally.failures === before
        }),
        { numRuns: ARBITRARY, seed: 18 }
      )
      assert.deepStrictEqual(tally.findings, [])
      assert.strictEqual(tally.runs, MUTANTS + ARBITRARY)
      // The mutations reach both outcomes: some inputs are accepted, most refused.
      assert.isAbove(tally.accepted, 0)
      assert.isAbove(tally.refused, 0)
    })
  }
})
