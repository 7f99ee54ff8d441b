// Command bench reproduces every figure of BENCHMARKS.md on one machine,
// with all load on 127.0.0.1; each step takes a few minutes (the catalog
// step about 8, 2 of them waiting for gossip to settle):
//
//	go run ./test/bench                       # everything
//	go run ./test/bench -only dns,cluster     # some steps
//	go run ./test/bench -json out.json        # also write the summary
//	test/bench/run.sh                         # the same, from anywhere
//
// Steps (each bounded by its own timeout; see -h):
//
//   - dns: dnsperf against one agentd serving 10 services × 3 instances and
//     against test/bench/bareresponder answering the same records from a
//     map, alternating runs, same GOMAXPROCS; allocations per query from
//     dnsserver's benchmarks. Needs dnsperf (apt-get install dnsperf);
//     without it that figure is skipped with a message.
//   - cluster: 5 and 30 agentd processes with the LAN gossip profile:
//     propagation of 100 puts, arrival seen by blocking queries on every
//     agent; then kill -9 and the time until every survivor lists the
//     victim as failed.
//   - inproc: 50 and 200 agents of package agent in this process over
//     internal/memnet, LAN profile, arrival from Store.Subscribe.
//   - ae: configsync's BenchmarkAntiEntropy, and two agents over memnet
//     measuring every stream byte of one push/pull and its sync.
//   - mem: VmRSS of an idle agentd and with 10k and 100k keys of 1 KiB.
//   - write: fsynced puts/s through the HTTP API, 1 and 16 clients.
//   - sim: cmd/gossipsim at the same settings, and measured/simulated.
//   - security: KV puts/s and DNS q/s with TLS, mTLS, ACLs and a gossip
//     key on and off, alternating.
//   - catalog: 10 000 service instances on 5 agentd processes; decodes
//     per health change, and dnsperf's p99 at a fixed 10 000 q/s in
//     rounds of a steady run, a run where test/bench/flapper flips one
//     service's TTL check every 100 ms, and a control run where it flips
//     one in a neighbour cluster of 4 agentd that the DNS agent is not in
//     (see catalog.go for the placement on the CPUs and the target).
//
// Every figure is printed as a "RESULT {json}" line when measured; at the
// end comes a table and a JSON summary between "==== BEGIN SUMMARY JSON"
// and "==== END SUMMARY JSON" with the machine (CPUs, model, kernel, load
// before and after), the date and the exact command of each figure.
//
// The runner builds agentd, gossipsim, the bare responder and the
// flapper into a temporary directory (removed at the end unless -keep)
// and kills every process it started when it ends, fails or is
// interrupted (each child is in its own process group and gets SIGKILL
// if the runner dies).
// -profile adds a CPU profile of the agent under dnsperf and a heap
// profile with 100k keys, printed as pprof top lists.
package main
