/**
 * DynamoRIO's clients/drcachesim/tests/tlb_simulator_unit_test.cpp
 * (`tlb_simulator_check_addresses`), ported as far as memtrace's TLB
 * simulator can express it.
 *
 * DynamoRIO's test wraps `tlb_simulator_t::process_memref` in a mock that
 * records the address each READ memref (8 bytes, pid 11111, tid 22222) is
 * simulated with, and checks that set:
 * - without `-use_physical`: exactly the three virtual addresses given;
 * - with `-use_physical` and the aarch64 threadsig `v2p.textproto`: the three
 *   physical addresses that file maps them to.
 *
 * memtrace has no hook inside the simulator, so the first check is observed
 * through the simulated DTLB: the three reads miss (three distinct pages, all
 * compulsory), reads elsewhere on the same virtual pages then hit, and reads on
 * the pages of the corresponding physical addresses miss, so the TLB was filled
 * with the virtual pages and nothing else.
 *
 * The physical half cannot be expressed: memtrace's TLB simulator offers no
 * `-use_physical` / `-v2p_file` (see TlbSimulator.ts's gotchas), and
 * `drmemtrace.threadsig.aarch64.raw` is not among the shared traces.
 */
import { assert, describe, it } from "@effect/vitest"
import * as TlbSimulator from "../../src/tools/TlbSimulator.ts"
import * as Synthetic from "../../src/trace/Synthetic.ts"
import { simulate, stream } from "./CacheSimulator.run.ts"

const VIRTUAL = [0x0000fffffb73da60n, 0x00000000004a7a78n, 0x00000000004a5f20n]
const PHYSICAL = [0x000000000133da60n, 0x00000000002a7a78n, 0x00000000002a5f20n]
const PAGE = 4096n

/** DynamoRIO's generate_mem_ref: an 8-byte READ of pid 11111, tid 22222. */
const memref = (addr: bigint) => Synthetic.read(addr, 8)

const thread = (...entries: ReadonlyArray<Synthetic.Entry>) =>
  stream([Synthetic.threadEntry(22222), Synthetic.pid(11111), ...entries])

describe("tlb_simulator_unit_test.cpp", () => {
  it("tlb_simulator_check_addresses: virtual addresses (observed through the DTLB)", () => {
    const dtlb = (entries: ReadonlyArray<Synthetic.Entry>) => {
      const c = simulate(TlbSimulator.tool, thread(...entries)).result.cores[0]!.l1d
      return { hits: c.hits, misses: c.misses, compulsory: c.compulsoryMisses }
    }
    // The three memrefs: three pages, three compulsory misses.
    assert.deepStrictEqual(dtlb(VIRTUAL.map(memref)), { hits: 0, misses: 3, compulsory: 3 })
    // Another offset on each of those virtual pages hits.
    const samePages = VIRTUAL.map((a) => memref((a & ~(PAGE - 1n)) + ((a + 0x100n) % PAGE)))
    assert.deepStrictEqual(dtlb([...VIRTUAL.map(memref), ...samePages]), { hits: 3, misses: 3, compulsory: 3 })
    // The physical pages were never entered.
    assert.deepStrictEqual(dtlb([...VIRTUAL.map(memref), ...PHYSICAL.map(memref)]), {
      hits: 0,
      misses: 6,
      compulsory: 6
    })
  })
})
