package records

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Names and ports outside Config.
const (
	// ThisDCOSDomain is dcos-dns's zone.
	ThisDCOSDomain = "thisdcos.directory."
	// L4LBDomain is where named VIPs live: "<name>.<framework>." + L4LBDomain.
	L4LBDomain = "l4lb." + ThisDCOSDomain

	defaultMasterPort = 5050
	defaultAgentPort  = 5051

	// Status labels read by the "mesos" and "docker" IP sources.
	labelMesosIP  = "MesosContainerizer.NetworkSettings.IPAddress"
	labelDockerIP = "Docker.NetworkSettings.IPAddress"

	mesosBridge = "mesos-bridge"

	// maxTaskPorts bounds the ports read from one task's resources.
	maxTaskPorts = 1024
)

// NSName is the name the server gives its own SOA MNAME and NS record in
// the domain ("ns1.mesos."); Build makes no record for it, since only the
// server knows the addresses it listens on.
func NSName(domain string) string { return "ns1." + domainOrDefault(domain) + "." }

func domainOrDefault(d string) string {
	if d = DomainFrag(d, false); d == "" {
		return "mesos"
	}
	return d
}

// Build computes every record of the cluster from st (reference §4.1,
// §4.3, §4.4). The result depends only on its input: the same cfg and st
// give an identical Table, with every slice sorted. Records are made for
// TASK_RUNNING tasks of known frameworks on known agents only; names that
// sanitise to nothing or would not be valid DNS names are left out.
//
// Where it departs from Mesos-DNS or dcos-net, on purpose:
//   - A canonical name "T-<hash>-<tail>" and an SRV label "_T" that would be
//     longer than 63 characters are cut (Mesos-DNS made invalid labels).
//   - `_framework._tcp.F.<d>` and the A record of `F.<d>` come from
//     FrameworkInfo.hostname, else webui_url (the v1 API has no scheduler
//     PID); the SRV port is webui_url's explicit port.
//   - The `*.<d>.thisdcos.directory.` mirror holds the same records as the
//     original name: SRV targets stay in the Mesos-DNS domain (answered by
//     the same server), and the mirror costs no copies.
//   - containerip falls back to the agent IP for a task without a container
//     address (what Mesos itself reports for host networking).
//   - VIP backends use the container address only for tasks on a routable
//     container network (Docker USER, or a named network other than
//     mesos-bridge): a bridge address is reachable only from its own host,
//     so bridge tasks are reached at agent IP and host port.
func Build(cfg Config, st *State) *Table {
	b := newBuilder(cfg, st)
	b.masters(st)
	for _, a := range st.Agents {
		b.agent(a)
	}
	for _, f := range st.Frameworks {
		b.framework(f)
	}
	for _, t := range st.Tasks {
		b.task(t)
	}
	return b.finish()
}

// entry is one name being built.
type entry struct {
	name  string
	set   RRSet
	mesos bool // in the Mesos-DNS domain (mirrored under thisdcos.directory)
	// Counts of the records in builder.addrs and builder.srvs, which
	// finish hands out from one slab per type instead of growing a slice
	// per name.
	nA, nAAAA, nSRV int32
}

type addrRec struct {
	e  *entry
	ip netip.Addr
}

type srvRec struct {
	e   *entry
	srv SRV
}

type agentInfo struct {
	ip   netip.Addr
	ips  []netip.Addr // ip alone, shared by the tasks whose address it is
	tail string       // last '-' field of the agent ID, sanitised
}

type fwInfo struct {
	frag string // sanitised name, dots kept
	fsuf string // "." + frag + "." + domain + "."
	fslv string // "." + frag + ".slave." + domain + "."
	enum *EnumFramework
	id   string
}

type builder struct {
	cfg     Config
	rfc952  bool
	dom     string // "mesos."
	names   map[string]*entry
	nMesos  int
	agents  map[string]agentInfo
	fws     map[string]*fwInfo
	fwList  []*fwInfo
	ipStr   map[netip.Addr]string
	buf     []byte
	tmp     []byte
	vips    []vipDecl
	sources []string

	// Scratch and slabs, to keep allocations per task low (Build runs on
	// every state change of clusters with 100k tasks).
	labels     map[string]string // task/discovery name -> Label
	frags      map[string]string // discovery name -> DomainFrag
	ports      []uint16
	cips       []netip.Addr
	groups     map[groupKey]*group
	portLabels map[string]string
	entries    []entry
	list       []*entry // every entry, in the order made
	addrs      []addrRec
	srvs       []srvRec
}

func newBuilder(cfg Config, st *State) *builder {
	n := len(st.Tasks)
	b := &builder{
		cfg:        cfg,
		rfc952:     cfg.EnforceRFC952,
		dom:        domainOrDefault(cfg.Domain) + ".",
		names:      make(map[string]*entry, 64+n*4),
		agents:     make(map[string]agentInfo, len(st.Agents)),
		fws:        make(map[string]*fwInfo, len(st.Frameworks)),
		ipStr:      make(map[netip.Addr]string, len(st.Agents)+16),
		buf:        make([]byte, 0, 256),
		tmp:        make([]byte, 0, 256),
		labels:     make(map[string]string),
		groups:     make(map[groupKey]*group),
		portLabels: make(map[string]string),
		addrs:      make([]addrRec, 0, 64+n*10),
		srvs:       make([]srvRec, 0, 64+n*10),
		frags:      make(map[string]string),
		sources:    cfg.IPSources,
	}
	if len(b.sources) == 0 {
		b.sources = DefaultConfig().IPSources
	}
	return b
}

// get returns the entry of the name in b.buf, creating it; nil when the
// name is not a valid DNS name.
func (b *builder) get(mesos bool) *entry {
	if e, ok := b.names[string(b.buf)]; ok { // no allocation for the lookup
		return e
	}
	if !validName(b.buf) {
		return nil
	}
	if len(b.entries) == 0 {
		b.entries = make([]entry, 1024)
	}
	e := &b.entries[0]
	b.entries = b.entries[1:]
	e.name, e.mesos = string(b.buf), mesos
	if mesos {
		b.nMesos++
	}
	b.names[e.name] = e
	b.list = append(b.list, e)
	return e
}

func (b *builder) name(parts ...string) {
	b.buf = b.buf[:0]
	for _, p := range parts {
		b.buf = append(b.buf, p...)
	}
}

func (b *builder) addAddr(e *entry, ip netip.Addr) {
	if ip.Is4() {
		e.nA++
	} else {
		e.nAAAA++
	}
	b.addrs = append(b.addrs, addrRec{e: e, ip: ip})
}

func (b *builder) ipString(ip netip.Addr) string {
	s, ok := b.ipStr[ip]
	if !ok {
		s = ip.String()
		b.ipStr[ip] = s
	}
	return s
}

// addA adds ips to e (nil: an invalid name), recording them in et when set.
func (b *builder) addA(e *entry, et *EnumTask, ips ...netip.Addr) {
	if e == nil {
		return
	}
	for _, ip := range ips {
		b.addAddr(e, ip)
		if et != nil {
			rt := "A"
			if !ip.Is4() {
				rt = "AAAA"
			}
			et.Records = append(et.Records, EnumRecord{Name: e.name, Host: b.ipString(ip), RType: rt})
		}
	}
}

// addSRV adds an SRV record to e (nil: an invalid name), recording it in
// et when set with host ("target:port", made when empty).
func (b *builder) addSRV(e *entry, et *EnumTask, target string, port uint16, host string) {
	if e == nil || port == 0 || target == "" {
		return
	}
	e.nSRV++
	b.srvs = append(b.srvs, srvRec{e: e, srv: SRV{Target: target, Port: port, Weight: 1}})
	if et != nil {
		if host == "" {
			host = b.hostPort(target, port)
		}
		et.Records = append(et.Records, EnumRecord{Name: e.name, Host: host, RType: "SRV"})
	}
}

// hostPort is "target:port", as /v1/enumerate shows an SRV record.
func (b *builder) hostPort(target string, port uint16) string {
	h := append(append(b.tmp[:0], target...), ':')
	h = strconv.AppendUint(h, uint64(port), 10)
	b.tmp = h
	return string(h)
}

// masterAddr is a MasterInfo's IP and port.
func masterAddr(m *mesosv1.MasterInfo) (netip.Addr, uint16) {
	port := m.Port
	var ip netip.Addr
	if m.Address != nil {
		if a, err := netip.ParseAddr(m.Address.IP); err == nil {
			ip = a.Unmap()
		}
		if port == 0 {
			port = m.Address.Port
		}
	}
	if !ip.IsValid() && m.PID != "" {
		if _, hp, ok := strings.Cut(m.PID, "@"); ok {
			if ap, err := netip.ParseAddrPort(hp); err == nil {
				ip = ap.Addr().Unmap()
				if port == 0 {
					port = int(ap.Port())
				}
			}
		}
	}
	if !ip.IsValid() && m.IP != 0 {
		// Mesos packs the IPv4 address in network byte order into a
		// uint32 that is then read as a little-endian integer.
		ip = netip.AddrFrom4([4]byte{byte(m.IP), byte(m.IP >> 8), byte(m.IP >> 16), byte(m.IP >> 24)})
	}
	if !ip.IsValid() {
		if a, err := netip.ParseAddr(m.Hostname); err == nil {
			ip = a.Unmap()
		}
	}
	if port <= 0 || port > 65535 {
		port = defaultMasterPort
	}
	return ip, uint16(port)
}

// masters adds leader.<d>, master.<d>, master<N>.<d> and their SRVs.
func (b *builder) masters(st *State) {
	port := uint16(defaultMasterPort)
	var leader netip.Addr
	if st.Leader != nil {
		leader, port = masterAddr(st.Leader)
	}
	if leader.IsValid() {
		b.name("leader.", b.dom)
		b.addA(b.get(true), nil, leader)
		target := "leader." + b.dom
		b.name("_leader._tcp.", b.dom)
		b.addSRV(b.get(true), nil, target, port, "")
		b.name("_leader._udp.", b.dom)
		b.addSRV(b.get(true), nil, target, port, "")
		b.name("master.", b.dom)
		b.addA(b.get(true), nil, leader)
	}
	for i, m := range st.Masters {
		if !m.IsValid() {
			continue
		}
		m = m.Unmap()
		n := "master" + strconv.Itoa(i) + "."
		b.name(n, b.dom)
		b.addA(b.get(true), nil, m)
		b.name("master.", b.dom)
		b.addA(b.get(true), nil, m)
		b.name("_master._tcp.", b.dom)
		b.addSRV(b.get(true), nil, n+b.dom, port, "")
	}
}

// agentAddr is an agent's IP (from its PID, else an IP-literal hostname)
// and port.
func agentAddr(a *mesosv1.OperatorAgent) (netip.Addr, uint16) {
	port := a.AgentInfo.Port
	var ip netip.Addr
	if _, hp, ok := strings.Cut(a.PID, "@"); ok {
		if ap, err := netip.ParseAddrPort(hp); err == nil {
			ip = ap.Addr().Unmap()
			if port == 0 {
				port = int(ap.Port())
			}
		}
	}
	if !ip.IsValid() {
		if x, err := netip.ParseAddr(a.AgentInfo.Hostname); err == nil {
			ip = x.Unmap()
		}
	}
	if port <= 0 || port > 65535 {
		port = defaultAgentPort
	}
	return ip, uint16(port)
}

// agentTail is the last '-' field of an agent ID ("...-S3" -> "s3").
func agentTail(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		id = id[i+1:]
	}
	return Label(id, false)
}

func (b *builder) agent(a *mesosv1.OperatorAgent) {
	if a == nil || a.AgentInfo.ID == nil {
		return
	}
	ip, port := agentAddr(a)
	ai := agentInfo{ip: ip, tail: agentTail(a.AgentInfo.ID.Value)}
	if ip.IsValid() {
		ai.ips = []netip.Addr{ip}
	}
	b.agents[a.AgentInfo.ID.Value] = ai
	if !ip.IsValid() {
		return
	}
	b.name("slave.", b.dom)
	b.addA(b.get(true), nil, ip)
	// agent.<d>: the same, under DC/OS's word for a slave (Mesos-DNS
	// itself only has slave.<d>).
	b.name("agent.", b.dom)
	b.addA(b.get(true), nil, ip)
	b.name("_slave._tcp.", b.dom)
	b.addSRV(b.get(true), nil, "slave."+b.dom, port, "")
}

// frameworkAddr is where a framework's scheduler is, as far as the v1 API
// tells: FrameworkInfo.hostname when it is an IP literal, else webui_url's
// host; the port is webui_url's explicit port (0 when none).
func frameworkAddr(fi *mesosv1.FrameworkInfo) (netip.Addr, uint16) {
	var ip netip.Addr
	if a, err := netip.ParseAddr(fi.Hostname); err == nil {
		ip = a.Unmap()
	}
	var port uint16
	if u := fi.WebuiURL; u != "" {
		if _, rest, ok := strings.Cut(u, "://"); ok {
			u = rest
		}
		if i := strings.IndexAny(u, "/?#"); i >= 0 {
			u = u[:i]
		}
		if ap, err := netip.ParseAddrPort(u); err == nil {
			if !ip.IsValid() {
				ip = ap.Addr().Unmap()
			}
			if ip == ap.Addr().Unmap() {
				port = ap.Port()
			}
		} else if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(u, "["), "]")); err == nil && !ip.IsValid() {
			ip = a.Unmap()
		}
	}
	return ip, port
}

func (b *builder) framework(f *mesosv1.OperatorFramework) {
	if f == nil || f.FrameworkInfo.ID == nil {
		return
	}
	id := f.FrameworkInfo.ID.Value
	frag := DomainFrag(f.FrameworkInfo.Name, b.rfc952)
	fw := &fwInfo{
		frag: frag,
		enum: &EnumFramework{Name: f.FrameworkInfo.Name},
		id:   id,
	}
	if frag != "" {
		fw.fsuf = "." + frag + "." + b.dom
		fw.fslv = "." + frag + ".slave." + b.dom
	}
	if _, dup := b.fws[id]; !dup {
		b.fws[id] = fw
		b.fwList = append(b.fwList, fw)
	}
	if frag == "" {
		return
	}
	ip, port := frameworkAddr(&f.FrameworkInfo)
	if !ip.IsValid() {
		return
	}
	b.name(frag, ".", b.dom)
	b.addA(b.get(true), nil, ip)
	b.name("_framework._tcp.", frag, ".", b.dom)
	b.addSRV(b.get(true), nil, frag+"."+b.dom, port, "")
}

// latest is the task's most recent status (nil when it has none).
func latest(t *mesosv1.Task) *mesosv1.TaskStatus {
	if len(t.Statuses) == 0 {
		return nil
	}
	return &t.Statuses[len(t.Statuses)-1]
}

// runningStatus is the latest TASK_RUNNING status, else the latest one.
func runningStatus(t *mesosv1.Task) *mesosv1.TaskStatus {
	for i := len(t.Statuses) - 1; i >= 0; i-- {
		if t.Statuses[i].State == mesosv1.TaskRunning {
			return &t.Statuses[i]
		}
	}
	return latest(t)
}

// appendContainerIPs appends the addresses in the status's network_infos.
func appendContainerIPs(out []netip.Addr, s *mesosv1.TaskStatus) []netip.Addr {
	if s == nil || s.ContainerStatus == nil {
		return out
	}
	for _, ni := range s.ContainerStatus.NetworkInfos {
		for _, a := range ni.IPAddresses {
			if ip, err := netip.ParseAddr(a.IPAddress); err == nil && ip.Zone() == "" {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

func labelIP(s *mesosv1.TaskStatus, key string) []netip.Addr {
	if s == nil {
		return nil
	}
	v, ok := s.Labels.Get(key)
	if !ok {
		return nil
	}
	if ip, err := netip.ParseAddr(v); err == nil && ip.Zone() == "" {
		return []netip.Addr{ip.Unmap()}
	}
	return nil
}

// appendHostPorts appends the task's port resources in resource order.
func appendHostPorts(out []uint16, t *mesosv1.Task) []uint16 {
	for _, r := range t.Resources {
		if r.Name != "ports" || r.Ranges == nil {
			continue
		}
		for _, rg := range r.Ranges.Range {
			for p := rg.Begin; p <= rg.End && p <= 65535 && len(out) < maxTaskPorts; p++ {
				if p > 0 {
					out = append(out, uint16(p))
				}
			}
		}
	}
	return out
}

// onContainerNet reports whether the task has a routable address of its
// own: a Docker USER network, or a named network other than mesos-bridge.
func onContainerNet(t *mesosv1.Task) bool {
	c := t.Container
	if c == nil {
		return false
	}
	if c.Docker != nil {
		return c.Docker.Network == "USER"
	}
	for _, ni := range c.NetworkInfos {
		if ni.Name != "" && ni.Name != mesosBridge {
			return true
		}
	}
	return false
}

// taskCtx is what a task's records are made of.
type taskCtx struct {
	t         *mesosv1.Task
	fw        *fwInfo
	agent     agentInfo
	hash      [5]byte
	taskIPs   []netip.Addr
	cIPs      []netip.Addr
	hostPorts []uint16
	et        *EnumTask
}

func (b *builder) task(t *mesosv1.Task) {
	if t == nil || t.State != mesosv1.TaskRunning {
		return
	}
	fw := b.fws[t.FrameworkID.Value]
	if fw == nil {
		return
	}
	ag, ok := b.agents[t.AgentID.Value]
	if !ok {
		return
	}
	rs := runningStatus(t)
	b.ports = appendHostPorts(b.ports[:0], t)
	b.cips = appendContainerIPs(b.cips[:0], rs)
	tc := taskCtx{t: t, fw: fw, agent: ag, hostPorts: b.ports, cIPs: b.cips}
	for _, src := range b.sources {
		switch src {
		case "host":
			tc.taskIPs = ag.ips
		case "netinfo":
			tc.taskIPs = tc.cIPs
		case "mesos":
			tc.taskIPs = labelIP(rs, labelMesosIP)
		case "docker":
			tc.taskIPs = labelIP(rs, labelDockerIP)
		}
		if len(tc.taskIPs) > 0 {
			break
		}
	}
	nDisc := 0
	if t.Discovery != nil && t.Discovery.Ports != nil {
		nDisc = len(t.Discovery.Ports.Ports)
	}
	// One label name (the discovery name usually equals the task name),
	// maybe one dotted name, and their A and SRV records.
	est := 2 + 4*len(tc.taskIPs) + 2*len(tc.hostPorts) + 2*nDisc
	if nDisc == 0 {
		est += 2 * len(tc.hostPorts)
	}
	fw.enum.Tasks = append(fw.enum.Tasks, EnumTask{Name: t.Name, ID: t.TaskID.Value, Records: make([]EnumRecord, 0, est)})
	tc.et = &fw.enum.Tasks[len(fw.enum.Tasks)-1]

	if fw.frag != "" {
		tc.hash = taskHash(t.TaskID.Value)
		// The names a task answers to: its name as one label, and with
		// DiscoveryInfo its discovery name both with its dots kept and as
		// one label, as Mesos-DNS does (which is how Marathon's "web.prod"
		// gives both web.prod.marathon.mesos and web-prod.marathon.mesos).
		var variants [3]string
		variants[0] = b.label(t.Name)
		if d := t.Discovery; d != nil && d.Name != "" {
			variants[1] = b.frag(d.Name)
			variants[2] = b.label(d.Name)
		}
		for i, v := range variants {
			if v == "" || slices.Contains(variants[:i], v) {
				continue
			}
			if i == 1 && strings.Contains(v, ".") {
				// The dotted name gets A records only: SRV names
				// ("_web.prod._tcp") and a canonical name
				// ("web.prod-<hash>-s1") built from it would put the
				// service label at the wrong level.
				b.dottedNames(&tc, v)
				continue
			}
			b.taskNames(&tc, v)
		}
		b.thisDCOS(&tc, variants[0])
	}
	b.taskVIPs(&tc)
	// A task's records come in the order they were made, which depends on
	// the task alone; repeats (a port listed twice) are dropped.
	tc.et.Records = dedupe(tc.et.Records)
}

// label is Label with the builder's setting, cached: an app's tasks
// share their names.
func (b *builder) label(s string) string {
	l, ok := b.labels[s]
	if !ok {
		l = Label(s, b.rfc952)
		b.labels[s] = l
	}
	return l
}

func (b *builder) frag(s string) string {
	l, ok := b.frags[s]
	if !ok {
		l = DomainFrag(s, b.rfc952)
		b.frags[s] = l
	}
	return l
}

// dedupe drops repeated records, keeping the first of each. Tasks have a
// handful of records, so the quadratic scan is cheaper than sorting.
func dedupe(rs []EnumRecord) []EnumRecord {
	out := rs[:0]
	for _, r := range rs {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// cutLastLabel cuts name's last dot-separated label to at most n characters
// and trims the '-' the cut leaves at its end.
func cutLastLabel(name string, n int) string {
	i := strings.LastIndexByte(name, '.') + 1
	if len(name)-i <= n {
		return name
	}
	name = name[:i+n]
	return strings.TrimRight(name, "-")
}

// cutFirstLabel is cutLastLabel for the first label.
func cutFirstLabel(name string, n int) string {
	i := strings.IndexByte(name, '.')
	if i < 0 {
		i = len(name)
	}
	if i <= n {
		return name
	}
	return strings.TrimRight(name[:n], "-") + name[i:]
}

// group caches the entries of the names that an app's tasks share
// (T.F.<d>, its SRV names, ...), saving most map lookups per task.
type group struct {
	slots [nSlots]*entry
	done  [nSlots]bool
	disc  []discSlot
}

// Slots of a group.
const (
	slotTF          = iota // T.F.<d>
	slotTS                 // T.F.slave.<d>
	slotSlaveTCP           // _T._tcp.F.slave.<d>
	slotSlaveUDP           // _T._udp.F.slave.<d>
	slotTCP                // _T._tcp.F.<d> (no DiscoveryInfo)
	slotUDP                // _T._udp.F.<d> (no DiscoveryInfo)
	slotAgentIP            // T.F.agentip.dcos.thisdcos.directory.
	slotContainerIP        // T.F.containerip.dcos.thisdcos.directory.
	slotAutoIP             // T.F.autoip.dcos.thisdcos.directory.
	nSlots
)

// discSlot is the entry of a DiscoveryInfo port's SRV name:
// _T._<proto>.F.<d> (name empty) or _<name>._T._<proto>.F.<d>.
type discSlot struct {
	name, proto string
	e           *entry
}

type groupKey struct {
	fw *fwInfo
	T  string
}

func (b *builder) group(fw *fwInfo, T string) *group {
	k := groupKey{fw: fw, T: T}
	g := b.groups[k]
	if g == nil {
		g = &group{}
		b.groups[k] = g
	}
	return g
}

// slot returns g's entry i, made from parts the first time.
func (b *builder) slot(g *group, i int, mesos bool, parts ...string) *entry {
	if !g.done[i] {
		b.name(parts...)
		g.slots[i], g.done[i] = b.get(mesos), true
	}
	return g.slots[i]
}

// discEntry returns the entry of a DiscoveryInfo port's SRV name.
func (b *builder) discEntry(g *group, name, proto string, parts ...string) *entry {
	for _, d := range g.disc {
		if d.name == name && d.proto == proto {
			return d.e
		}
	}
	b.name(parts...)
	e := b.get(true)
	g.disc = append(g.disc, discSlot{name: name, proto: proto, e: e})
	return e
}

// taskNames adds the `.mesos` records of one name T of a task (§4.1).
func (b *builder) taskNames(tc *taskCtx, T string) {
	fw, et := tc.fw, tc.et
	g := b.group(fw, T)
	suffixLen := 1 + len(tc.hash)
	if tc.agent.tail != "" {
		suffixLen += 1 + len(tc.agent.tail)
	}
	// canon is "T-<hash>-<tail>" (T cut so that the label fits in 63).
	c := append(b.tmp[:0], cutLastLabel(T, 63-suffixLen)...)
	c = append(c, '-')
	c = append(c, tc.hash[:]...)
	if tc.agent.tail != "" {
		c = append(c, '-')
		c = append(c, tc.agent.tail...)
	}
	n := len(c)
	canonF := string(append(c, fw.fsuf...))
	canonS := string(append(c[:n], fw.fslv...))
	b.tmp = c
	srvT := cutFirstLabel(T, 62) // "_T" must fit in 63

	if len(tc.taskIPs) > 0 {
		b.addA(b.slot(g, slotTF, true, T, fw.fsuf), et, tc.taskIPs...)
		b.name(canonF)
		b.addA(b.get(true), et, tc.taskIPs...)
	}
	if tc.agent.ip.IsValid() {
		b.addA(b.slot(g, slotTS, true, T, fw.fslv), et, tc.agent.ip)
		b.name(canonS)
		b.addA(b.get(true), et, tc.agent.ip)
	}

	disc := tc.t.Discovery
	for _, p := range tc.hostPorts {
		h := b.hostPort(canonS, p) // shared by the records of this port
		b.addSRV(b.slot(g, slotSlaveTCP, true, "_", srvT, "._tcp", fw.fslv), et, canonS, p, h)
		b.addSRV(b.slot(g, slotSlaveUDP, true, "_", srvT, "._udp", fw.fslv), et, canonS, p, h)
		if disc == nil {
			b.addSRV(b.slot(g, slotTCP, true, "_", srvT, "._tcp", fw.fsuf), et, canonS, p, h)
			b.addSRV(b.slot(g, slotUDP, true, "_", srvT, "._udp", fw.fsuf), et, canonS, p, h)
		}
	}
	if disc == nil || disc.Ports == nil {
		return
	}
	for _, p := range disc.Ports.Ports {
		if p.Number == 0 || p.Number > 65535 {
			continue
		}
		proto := portProto(p.Protocol)
		h := b.hostPort(canonF, uint16(p.Number))
		b.addSRV(b.discEntry(g, "", proto, "_", srvT, "._", proto, fw.fsuf), et, canonF, uint16(p.Number), h)
		if pn := b.portLabel(p.Name); pn != "" {
			b.addSRV(b.discEntry(g, pn, proto, "_", pn, "._", srvT, "._", proto, fw.fsuf), et, canonF, uint16(p.Number), h)
		}
	}
}

// portLabel is a port name as an SRV label (without its '_'), cached.
func (b *builder) portLabel(name string) string {
	if name == "" {
		return ""
	}
	l, ok := b.portLabels[name]
	if !ok {
		l = cutFirstLabel(Label(name, false), 62)
		b.portLabels[name] = l
	}
	return l
}

// dottedNames adds the A records of a task name that has dots.
func (b *builder) dottedNames(tc *taskCtx, T string) {
	g := b.group(tc.fw, T)
	if len(tc.taskIPs) > 0 {
		b.addA(b.slot(g, slotTF, true, T, tc.fw.fsuf), tc.et, tc.taskIPs...)
	}
	if tc.agent.ip.IsValid() {
		b.addA(b.slot(g, slotTS, true, T, tc.fw.fslv), tc.et, tc.agent.ip)
	}
}

// portProto is a port's protocol as an SRV label: "tcp" by default.
func portProto(p string) string {
	switch p {
	case "", "tcp", "TCP":
		return "tcp"
	case "udp", "UDP":
		return "udp"
	}
	if l := Label(p, false); l != "" {
		return cutFirstLabel(l, 62)
	}
	return "tcp"
}

// thisDCOS adds the agentip, containerip and autoip names of a task (§4.3).
func (b *builder) thisDCOS(tc *taskCtx, T string) {
	if T == "" {
		return
	}
	g := b.group(tc.fw, T)
	frag := tc.fw.frag
	cips := tc.cIPs
	if len(cips) == 0 {
		cips = tc.agent.ips
	}
	if tc.agent.ip.IsValid() {
		b.addA(b.slot(g, slotAgentIP, false, T, ".", frag, ".agentip.dcos.", ThisDCOSDomain), nil, tc.agent.ip)
	}
	if len(cips) > 0 {
		b.addA(b.slot(g, slotContainerIP, false, T, ".", frag, ".containerip.dcos.", ThisDCOSDomain), nil, cips...)
	}
	auto := cips
	if len(tc.hostPorts) > 0 && tc.agent.ip.IsValid() {
		auto = tc.agent.ips
	}
	if len(auto) > 0 {
		b.addA(b.slot(g, slotAutoIP, false, T, ".", frag, ".autoip.dcos.", ThisDCOSDomain), nil, auto...)
	}
}

// vipDecl is one VIP declared by one task.
type vipDecl struct {
	name, fw   string // sanitised; name == "" for an IP VIP
	ip         netip.Addr
	port       uint16
	proto      string
	backend    Backend
	hasBackend bool
}

// taskVIPs collects the VIPs the task declares (§4.4): labels whose key
// starts with "VIP" on its DiscoveryInfo ports, and legacy task labels
// "VIP_PORT<i>" = "tcp://<vip>:<port>" for its i-th port resource.
func (b *builder) taskVIPs(tc *taskCtx) {
	t := tc.t
	healthy := true
	if s := latest(t); s != nil && s.Healthy != nil {
		healthy = *s.Healthy
	}
	if t.Discovery != nil && t.Discovery.Ports != nil {
		for _, p := range t.Discovery.Ports.Ports {
			if p.Labels == nil || p.Number == 0 || p.Number > 65535 {
				continue
			}
			for _, l := range p.Labels.Labels {
				if len(l.Key) < 3 || !strings.EqualFold(l.Key[:3], "VIP") {
					continue
				}
				spec, err := ParseVIPLabel(l.Value)
				if err != nil {
					continue
				}
				proto := spec.Protocol
				if proto == "" {
					proto = portProto(p.Protocol)
				}
				b.declare(tc, spec, proto, uint16(p.Number), healthy)
			}
		}
	}
	if t.Labels != nil {
		for _, l := range t.Labels.Labels {
			rest, ok := strings.CutPrefix(l.Key, "VIP_PORT")
			if !ok {
				continue
			}
			i, err := strconv.Atoi(rest)
			if err != nil || i < 0 || i >= len(tc.hostPorts) {
				continue
			}
			spec, err := ParseVIPLabel(l.Value)
			if err != nil {
				continue
			}
			proto := spec.Protocol
			if proto == "" {
				proto = "tcp"
			}
			b.declare(tc, spec, proto, tc.hostPorts[i], healthy)
		}
	}
}

func (b *builder) declare(tc *taskCtx, spec VIPSpec, proto string, port uint16, healthy bool) {
	if proto != "tcp" && proto != "udp" {
		return
	}
	d := vipDecl{name: spec.Name, fw: tc.fw.frag, ip: spec.IP, port: spec.Port, proto: proto}
	if spec.Name != "" && d.fw == "" {
		return // a named VIP's FQDN needs the framework's name
	}
	if healthy {
		fam := spec.IP // named VIPs are in VIPRange's family
		if !fam.IsValid() {
			fam = b.cfg.VIPRange.Addr()
		}
		ip, bp, ok := tc.backend(port, proto, fam)
		if ok {
			d.backend, d.hasBackend = Backend{IP: ip, Port: bp, TaskID: tc.t.TaskID.Value}, true
		}
	}
	b.vips = append(b.vips, d)
}

// backend is where the task serves the port announced as n: its container
// address and container port on a routable container network, else the
// agent's address and n (a host port). vip, when valid, asks for an
// address of its family (IPVS does not mix them).
func (tc *taskCtx) backend(n uint16, proto string, vip netip.Addr) (netip.Addr, uint16, bool) {
	want := func(ip netip.Addr) bool { return !vip.IsValid() || ip.Is4() == vip.Is4() }
	if onContainerNet(tc.t) {
		for _, ip := range tc.cIPs {
			if !want(ip) {
				continue
			}
			if cp, ok := containerPort(tc.t, n, proto); ok {
				return ip, cp, true
			}
			if !slices.Contains(tc.hostPorts, n) {
				return ip, n, true // no host port: n is the container port
			}
			break
		}
	}
	if tc.agent.ip.IsValid() && want(tc.agent.ip) {
		return tc.agent.ip, n, true
	}
	return netip.Addr{}, 0, false
}

// containerPort finds the container port mapped from host port hp.
func containerPort(t *mesosv1.Task, hp uint16, proto string) (uint16, bool) {
	match := func(h, c uint32, p string) bool {
		return h == uint32(hp) && c > 0 && c <= 65535 && (p == "" || strings.EqualFold(p, proto))
	}
	if c := t.Container; c != nil {
		if c.Docker != nil {
			for _, m := range c.Docker.PortMappings {
				if match(m.HostPort, m.ContainerPort, m.Protocol) {
					return uint16(m.ContainerPort), true
				}
			}
		}
		for _, ni := range c.NetworkInfos {
			for _, m := range ni.PortMappings {
				if match(m.HostPort, m.ContainerPort, m.Protocol) {
					return uint16(m.ContainerPort), true
				}
			}
		}
	}
	return 0, false
}

// finish sorts everything, allocates named VIPs, mirrors the domain under
// thisdcos.directory and assembles the Table.
func (b *builder) finish() *Table {
	vips := b.finishVIPs()
	for _, v := range vips {
		if v.FQDN == "" {
			continue
		}
		b.buf = append(b.buf[:0], v.FQDN...)
		b.addA(b.get(false), nil, v.IP)
	}

	b.distribute()
	names := make(map[string]*RRSet, len(b.list)+b.nMesos)
	for _, e := range b.list {
		s := &e.set
		if len(s.A) > 1 {
			slices.SortFunc(s.A, netip.Addr.Compare)
			s.A = slices.Compact(s.A)
		}
		if len(s.AAAA) > 1 {
			slices.SortFunc(s.AAAA, netip.Addr.Compare)
			s.AAAA = slices.Compact(s.AAAA)
		}
		if len(s.SRV) > 1 {
			slices.SortFunc(s.SRV, cmpSRV)
			s.SRV = slices.Compact(s.SRV)
		}
		names[e.name] = s
	}
	// The mirror shares the records themselves (a Table is immutable):
	// SRV targets stay in the Mesos-DNS domain, which the same server
	// answers.
	for _, e := range b.list {
		if !e.mesos {
			continue
		}
		mn := e.name + ThisDCOSDomain
		if !ValidName(mn) {
			continue
		}
		if old, ok := names[mn]; ok { // only if Domain itself ends in thisdcos.directory
			m := &RRSet{
				A:    slices.Compact(slices.SortedFunc(slices.Values(append(slices.Clone(old.A), e.set.A...)), netip.Addr.Compare)),
				AAAA: slices.Compact(slices.SortedFunc(slices.Values(append(slices.Clone(old.AAAA), e.set.AAAA...)), netip.Addr.Compare)),
				SRV:  slices.Compact(slices.SortedFunc(slices.Values(append(slices.Clone(old.SRV), e.set.SRV...)), cmpSRV)),
			}
			names[mn] = m
			continue
		}
		names[mn] = &e.set
	}

	fws := make([]EnumFramework, 0, len(b.fwList))
	slices.SortStableFunc(b.fwList, func(x, y *fwInfo) int {
		return cmp.Or(strings.Compare(x.enum.Name, y.enum.Name), strings.Compare(x.id, y.id))
	})
	for _, f := range b.fwList {
		slices.SortFunc(f.enum.Tasks, func(x, y EnumTask) int {
			return cmp.Or(strings.Compare(x.Name, y.Name), strings.Compare(x.ID, y.ID))
		})
		fws = append(fws, *f.enum)
	}
	return &Table{Domain: strings.TrimSuffix(b.dom, "."), Names: names, Frameworks: fws, VIPs: vips}
}

// distribute moves the records collected in b.addrs and b.srvs into their
// names' sets, carving every set's slice out of one slab per type.
func (b *builder) distribute() {
	var nA, nAAAA, nSRV int
	for _, e := range b.list {
		nA += int(e.nA)
		nAAAA += int(e.nAAAA)
		nSRV += int(e.nSRV)
	}
	slabA := make([]netip.Addr, nA)
	slabAAAA := make([]netip.Addr, nAAAA)
	slabSRV := make([]SRV, nSRV)
	for _, e := range b.list {
		e.set.A, slabA = take(slabA, int(e.nA))
		e.set.AAAA, slabAAAA = take(slabAAAA, int(e.nAAAA))
		e.set.SRV, slabSRV = take(slabSRV, int(e.nSRV))
	}
	for _, r := range b.addrs {
		if r.ip.Is4() {
			r.e.set.A = append(r.e.set.A, r.ip)
		} else {
			r.e.set.AAAA = append(r.e.set.AAAA, r.ip)
		}
	}
	for _, r := range b.srvs {
		r.e.set.SRV = append(r.e.set.SRV, r.srv)
	}
	b.addrs, b.srvs = nil, nil
}

// take splits n elements off slab as an empty slice with room for
// exactly n (nil when n is 0), and returns the rest.
func take[T any](slab []T, n int) ([]T, []T) {
	if n == 0 {
		return nil, slab
	}
	return slab[:0:n], slab[n:]
}

func cmpSRV(x, y SRV) int {
	return cmp.Or(
		strings.Compare(x.Target, y.Target),
		cmp.Compare(x.Port, y.Port),
		cmp.Compare(x.Priority, y.Priority),
		cmp.Compare(x.Weight, y.Weight),
	)
}

type vipKey struct {
	ip    netip.Addr
	port  uint16
	proto string
}

// finishVIPs gives named VIPs their addresses and groups the declarations
// into VIPs with their backends.
func (b *builder) finishVIPs() []VIP {
	if len(b.vips) == 0 {
		return nil
	}
	taken := make(map[netip.Addr]bool)
	var keys []string
	for _, d := range b.vips {
		if d.name == "" {
			taken[d.ip] = true
		} else {
			keys = append(keys, d.fw+"/"+d.name)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	addrs := make(map[string]netip.Addr, len(keys))
	if alloc, ok := newVIPAllocator(b.cfg.VIPRange, taken); ok {
		for _, k := range keys {
			if ip, ok := alloc.allocate(k); ok {
				addrs[k] = ip
			}
		}
	}
	byKey := make(map[vipKey]*VIP)
	var out []*VIP
	for _, d := range b.vips {
		ip := d.ip
		var fqdn string
		if d.name != "" {
			var ok bool
			if ip, ok = addrs[d.fw+"/"+d.name]; !ok {
				continue
			}
			fqdn = d.name + "." + d.fw + "." + L4LBDomain
			if !ValidName(fqdn) {
				continue
			}
		}
		k := vipKey{ip: ip, port: d.port, proto: d.proto}
		v := byKey[k]
		if v == nil {
			v = &VIP{Name: d.name, Framework: d.fw, FQDN: fqdn, IP: ip, Port: d.port, Protocol: d.proto}
			byKey[k] = v
			out = append(out, v)
		}
		if d.fw < v.Framework {
			v.Framework = d.fw // an IP VIP declared by several frameworks: the first by name
		}
		if d.hasBackend {
			v.Backends = append(v.Backends, d.backend)
		}
	}
	res := make([]VIP, 0, len(out))
	for _, v := range out {
		slices.SortFunc(v.Backends, func(x, y Backend) int {
			return cmp.Or(x.IP.Compare(y.IP), cmp.Compare(x.Port, y.Port), strings.Compare(x.TaskID, y.TaskID))
		})
		v.Backends = slices.Compact(v.Backends)
		res = append(res, *v)
	}
	slices.SortFunc(res, func(x, y VIP) int {
		return cmp.Or(x.IP.Compare(y.IP), cmp.Compare(x.Port, y.Port), strings.Compare(x.Protocol, y.Protocol))
	})
	return res
}
