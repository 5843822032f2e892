#!/bin/sh
# nsd-reference.sh: the machine's floor for the DNS benchmark. NSD (Debian's
# nsd, a C authoritative server, one process) serves 10,000 names of two A
# records each on 127.0.0.1:5398, and dnsperf measures its throughput and its
# latency at fixed rates, exactly as bench/dns measures Basalt's server. Needs
# root for apt: apt-get install nsd=4.6.1-1 dnsperf=2.10.0-2.
set -eu
dir=$(mktemp -d)
trap 'kill $(cat "$dir/nsd.pid" 2>/dev/null) 2>/dev/null || true; sleep 1; rm -rf "$dir" || true' EXIT
{
	echo '$ORIGIN marathon.mesos.'
	echo '$TTL 60'
	echo '@ IN SOA ns1.mesos. root.ns1.mesos. 1 60 60 600 60'
	echo '@ IN NS ns1.mesos.'
	i=0
	while [ $i -lt 10000 ]; do
		echo "app$i IN A 10.$((i >> 16 & 255)).$((i >> 8 & 255)).$((i & 255))"
		echo "app$i IN A 10.$((128 | (i >> 16 & 255))).$((i >> 8 & 255)).$((i & 255))"
		echo "app$i.marathon.mesos A" >>"$dir/queries.txt"
		i=$((i + 1))
	done
} >"$dir/zone"
cat >"$dir/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1@5398
  server-count: 1
  username: ""
  zonesdir: $dir
  database: ""
  pidfile: $dir/nsd.pid
  xfrdfile: $dir/xfrd.state
  zonelistfile: $dir/zone.list
remote-control:
  control-enable: no
zone:
  name: marathon.mesos
  zonefile: $dir/zone
CONF
nsd -c "$dir/nsd.conf"
sleep 1
run() { # rate
	dnsperf -s 127.0.0.1 -p 5398 -d "$dir/queries.txt" -l 10 -c 2 -T 1 -q 1000 -Q "$1" -v 2>&1 |
		awk '/^> NOERROR/ {print $NF}' | sort -g |
		awk -v q="$1" '{a[NR] = $1} END {printf "nsd at -Q %s: %d answers, p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs\n", q, NR, a[int(NR*.5)]*1e6, a[int(NR*.99)]*1e6, a[int(NR*.999)]*1e6}'
}
dnsperf -s 127.0.0.1 -p 5398 -d "$dir/queries.txt" -l 15 -c 2 -T 1 -q 100 | grep -E 'Queries per second|Average Latency'
run 20000
run 30000
