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
//   - The `*.<d>.thisdcos.directory.` mirror rewrites SRV targets into the
//     mirror too, so that answers stay inside the zone asked.
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
}

type agentInfo struct {
	ip   netip.Addr
	tail string // last '-' field of the agent ID, sanitised
}

type fwInfo struct {
	frag  string // sanitised name, dots kept
	fsuf  string // "." + frag + "." + domain + "."
	fslv  string // "." + frag + ".slave." + domain + "."
	enum  *EnumFramework
	order int
	id    string
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
	vips    []vipDecl
	sources []string
}

func newBuilder(cfg Config, st *State) *builder {
	n := len(st.Tasks)
	b := &builder{
		cfg:     cfg,
		rfc952:  cfg.EnforceRFC952,
		dom:     domainOrDefault(cfg.Domain) + ".",
		names:   make(map[string]*entry, 64+n*4),
		agents:  make(map[string]agentInfo, len(st.Agents)),
		fws:     make(map[string]*fwInfo, len(st.Frameworks)),
		ipStr:   make(map[netip.Addr]string, len(st.Agents)+16),
		buf:     make([]byte, 0, 256),
		sources: cfg.IPSources,
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
	if !validNameBytes(b.buf) {
		return nil
	}
	e := &entry{name: string(b.buf), mesos: mesos}
	if mesos {
		b.nMesos++
	}
	b.names[e.name] = e
	return e
}

func (b *builder) name(parts ...string) {
	b.buf = b.buf[:0]
	for _, p := range parts {
		b.buf = append(b.buf, p...)
	}
}

func addAddr(s *RRSet, ip netip.Addr) {
	if ip.Is4() {
		s.A = append(s.A, ip)
	} else {
		s.AAAA = append(s.AAAA, ip)
	}
}

func (b *builder) ipString(ip netip.Addr) string {
	s, ok := b.ipStr[ip]
	if !ok {
		s = ip.String()
		b.ipStr[ip] = s
	}
	return s
}

// addA adds ips to the name in b.buf, recording them in et when set.
func (b *builder) addA(mesos bool, et *EnumTask, ips ...netip.Addr) {
	if len(ips) == 0 {
		return
	}
	e := b.get(mesos)
	if e == nil {
		return
	}
	for _, ip := range ips {
		addAddr(&e.set, ip)
		if et != nil {
			rt := "A"
			if !ip.Is4() {
				rt = "AAAA"
			}
			et.Records = append(et.Records, EnumRecord{Name: e.name, Host: b.ipString(ip), RType: rt})
		}
	}
}

// addSRV adds an SRV record to the name in b.buf.
func (b *builder) addSRV(et *EnumTask, target string, port uint16) {
	if port == 0 || target == "" {
		return
	}
	e := b.get(true)
	if e == nil {
		return
	}
	e.set.SRV = append(e.set.SRV, SRV{Target: target, Port: port, Weight: 1})
	if et != nil {
		et.Records = append(et.Records, EnumRecord{Name: e.name, Host: target + ":" + strconv.Itoa(int(port)), RType: "SRV"})
	}
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
		b.addA(true, nil, leader)
		target := "leader." + b.dom
		b.name("_leader._tcp.", b.dom)
		b.addSRV(nil, target, port)
		b.name("_leader._udp.", b.dom)
		b.addSRV(nil, target, port)
		b.name("master.", b.dom)
		b.addA(true, nil, leader)
	}
	for i, m := range st.Masters {
		if !m.IsValid() {
			continue
		}
		m = m.Unmap()
		n := "master" + strconv.Itoa(i) + "."
		b.name(n, b.dom)
		b.addA(true, nil, m)
		b.name("master.", b.dom)
		b.addA(true, nil, m)
		b.name("_master._tcp.", b.dom)
		b.addSRV(nil, n+b.dom, port)
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
	b.agents[a.AgentInfo.ID.Value] = agentInfo{ip: ip, tail: agentTail(a.AgentInfo.ID.Value)}
	if !ip.IsValid() {
		return
	}
	b.name("slave.", b.dom)
	b.addA(true, nil, ip)
	b.name("_slave._tcp.", b.dom)
	b.addSRV(nil, "slave."+b.dom, port)
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
		frag:  frag,
		enum:  &EnumFramework{Name: f.FrameworkInfo.Name},
		order: len(b.fwList),
		id:    id,
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
	b.addA(true, nil, ip)
	b.name("_framework._tcp.", frag, ".", b.dom)
	b.addSRV(nil, frag+"."+b.dom, port)
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

// containerIPs are the addresses in the status's network_infos.
func containerIPs(s *mesosv1.TaskStatus) []netip.Addr {
	if s == nil || s.ContainerStatus == nil {
		return nil
	}
	var out []netip.Addr
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

// hostPorts lists the task's port resources in resource order.
func hostPorts(t *mesosv1.Task) []uint16 {
	var out []uint16
	for _, r := range t.Resources {
		if r.Name != "ports" || r.Ranges == nil {
			continue
		}
		for _, rg := range r.Ranges.Range {
			for p := rg.Begin; p <= rg.End && p <= 65535 && len(out) < 1024; p++ {
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
	hash      string
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
	tc := taskCtx{t: t, fw: fw, agent: ag, hostPorts: hostPorts(t), cIPs: containerIPs(rs)}
	for _, src := range b.sources {
		switch src {
		case "host":
			if ag.ip.IsValid() {
				tc.taskIPs = []netip.Addr{ag.ip}
			}
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
	fw.enum.Tasks = append(fw.enum.Tasks, EnumTask{Name: t.Name, ID: t.TaskID.Value})
	tc.et = &fw.enum.Tasks[len(fw.enum.Tasks)-1]

	if fw.frag != "" {
		tc.hash = TaskHash(t.TaskID.Value)
		// The names a task answers to: its name as one label, and with
		// DiscoveryInfo its discovery name both with its dots kept and as
		// one label, as Mesos-DNS does (which is how Marathon's "web.prod"
		// gives both web.prod.marathon.mesos and web-prod.marathon.mesos).
		var variants [3]string
		variants[0] = Label(t.Name, b.rfc952)
		if d := t.Discovery; d != nil && d.Name != "" {
			variants[1] = DomainFrag(d.Name, b.rfc952)
			variants[2] = Label(d.Name, b.rfc952)
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
	// A task's records are sorted and deduplicated once it is complete.
	slices.SortFunc(tc.et.Records, cmpEnumRecord)
	tc.et.Records = slices.Compact(tc.et.Records)
}

func cmpEnumRecord(x, y EnumRecord) int {
	if c := strings.Compare(x.Name, y.Name); c != 0 {
		return c
	}
	if c := strings.Compare(x.RType, y.RType); c != 0 {
		return c
	}
	return strings.Compare(x.Host, y.Host)
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

// taskNames adds the `.mesos` records of one name T of a task (§4.1).
func (b *builder) taskNames(tc *taskCtx, T string) {
	fw, et := tc.fw, tc.et
	suffix := "-" + tc.hash
	if tc.agent.tail != "" {
		suffix += "-" + tc.agent.tail
	}
	canon := cutLastLabel(T, 63-len(suffix)) + suffix
	srvT := cutFirstLabel(T, 62) // "_T" must fit in 63

	b.name(T, fw.fsuf)
	b.addA(true, et, tc.taskIPs...)
	b.name(canon, fw.fsuf)
	b.addA(true, et, tc.taskIPs...)
	if tc.agent.ip.IsValid() {
		b.name(T, fw.fslv)
		b.addA(true, et, tc.agent.ip)
		b.name(canon, fw.fslv)
		b.addA(true, et, tc.agent.ip)
	}

	canonF := canon + fw.fsuf
	canonS := canon + fw.fslv
	disc := tc.t.Discovery
	for _, p := range tc.hostPorts {
		b.name("_", srvT, "._tcp", fw.fslv)
		b.addSRV(et, canonS, p)
		b.name("_", srvT, "._udp", fw.fslv)
		b.addSRV(et, canonS, p)
		if disc == nil {
			b.name("_", srvT, "._tcp", fw.fsuf)
			b.addSRV(et, canonS, p)
			b.name("_", srvT, "._udp", fw.fsuf)
			b.addSRV(et, canonS, p)
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
		b.name("_", srvT, "._", proto, fw.fsuf)
		b.addSRV(et, canonF, uint16(p.Number))
		if pn := Label(p.Name, false); pn != "" {
			b.name("_", cutFirstLabel(pn, 62), "._", srvT, "._", proto, fw.fsuf)
			b.addSRV(et, canonF, uint16(p.Number))
		}
	}
}

// dottedNames adds the A records of a task name that has dots.
func (b *builder) dottedNames(tc *taskCtx, T string) {
	b.name(T, tc.fw.fsuf)
	b.addA(true, tc.et, tc.taskIPs...)
	if tc.agent.ip.IsValid() {
		b.name(T, tc.fw.fslv)
		b.addA(true, tc.et, tc.agent.ip)
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
	frag := tc.fw.frag
	cips := tc.cIPs
	if len(cips) == 0 && tc.agent.ip.IsValid() {
		cips = []netip.Addr{tc.agent.ip}
	}
	if tc.agent.ip.IsValid() {
		b.name(T, ".", frag, ".agentip.dcos.", ThisDCOSDomain)
		b.addA(false, nil, tc.agent.ip)
	}
	b.name(T, ".", frag, ".containerip.dcos.", ThisDCOSDomain)
	b.addA(false, nil, cips...)
	auto := cips
	if len(tc.hostPorts) > 0 && tc.agent.ip.IsValid() {
		auto = []netip.Addr{tc.agent.ip}
	}
	b.name(T, ".", frag, ".autoip.dcos.", ThisDCOSDomain)
	b.addA(false, nil, auto...)
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
		b.addA(false, nil, v.IP)
	}

	names := make(map[string]*RRSet, len(b.names)+b.nMesos)
	mirrored := make(map[string]string)
	mirror := func(n string) string {
		m, ok := mirrored[n]
		if !ok {
			m = n + ThisDCOSDomain
			if !ValidName(m) {
				m = n
			}
			mirrored[n] = m
		}
		return m
	}
	var mirrors []*entry
	for n, e := range b.names {
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
		names[n] = s
		if e.mesos {
			mirrors = append(mirrors, e)
		}
	}
	for _, e := range mirrors {
		mn := e.name + ThisDCOSDomain
		if !ValidName(mn) {
			continue
		}
		m := &RRSet{A: e.set.A, AAAA: e.set.AAAA}
		if len(e.set.SRV) > 0 {
			m.SRV = make([]SRV, len(e.set.SRV))
			for i, r := range e.set.SRV {
				r.Target = mirror(r.Target)
				m.SRV[i] = r
			}
			slices.SortFunc(m.SRV, cmpSRV)
		}
		if old, ok := names[mn]; ok { // only if Domain itself ends in thisdcos.directory
			m.A = slices.Compact(slices.SortedFunc(slices.Values(append(slices.Clone(old.A), m.A...)), netip.Addr.Compare))
			m.AAAA = slices.Compact(slices.SortedFunc(slices.Values(append(slices.Clone(old.AAAA), m.AAAA...)), netip.Addr.Compare))
			m.SRV = slices.Compact(slices.SortedFunc(slices.Values(append(slices.Clone(old.SRV), m.SRV...)), cmpSRV))
		}
		names[mn] = m
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
