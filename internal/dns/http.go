package dns

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/basalt-dcos/basalt/internal/version"
)

// HTTPHandler returns the Mesos-DNS HTTP API (port 8123 in DC/OS, behind
// Admin Router at /mesos_dns/) and dcos-dns's /v1/records and /v1/vips:
//
//	GET /v1/version            {"Service":"Mesos-DNS","URL":...,"Version":<basalt version>}
//	GET /v1/config             the effective configuration under Mesos-DNS's key names
//	GET /v1/hosts/{host}       [{"host","ip"}]; unknown: [{"host":"","ip":""}] (as Mesos-DNS)
//	GET /v1/hosts/{host}/ports 501 "To be implemented..." (as Mesos-DNS)
//	GET /v1/services/{service} [{"service","host","ip","port"}], port a string;
//	                           unknown: one object with every field "" (as Mesos-DNS)
//	GET /v1/enumerate          {"frameworks":[{"name","tasks":[{"name","id","records":[{"name","host","rtype"}]}]}]}
//	GET /v1/axfr               {"TTL","Serial","RefreshSeconds","Mname","Rname","Domain",
//	                            "Records":{"As":{name:[ip]},"SRVs":{name:["target:port"]}}}
//	                           for the Mesos-DNS domain only
//	GET /v1/records            Basalt's design: every record served, sorted by name, type, value:
//	                           [{"name":"web.marathon.mesos.","type":"A","value":"10.0.0.1","ttl":60}];
//	                           SRV values are "priority weight port target"
//	GET /v1/vips               Basalt's design: [{"vip":"my-service.marathon.l4lb.thisdcos.directory:80"
//	                           or "1.2.3.4:80","name","framework","ip","port","protocol",
//	                           "backends":[{"ip","port","task_id"}]}]
//
// {host} and {service} are matched case-insensitively, with or without the
// final dot; ".*" is removed from them, as Mesos-DNS does.
func (s *Server) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", s.httpVersion)
	mux.HandleFunc("GET /v1/config", s.httpConfig)
	mux.HandleFunc("GET /v1/hosts/{host}", s.httpHost)
	mux.HandleFunc("GET /v1/hosts/{host}/ports", s.httpPorts)
	mux.HandleFunc("GET /v1/services/{service}", s.httpService)
	mux.HandleFunc("GET /v1/enumerate", s.httpEnumerate)
	mux.HandleFunc("GET /v1/axfr", s.httpAXFR)
	mux.HandleFunc("GET /v1/records", s.httpRecords)
	mux.HandleFunc("GET /v1/vips", s.httpVIPs)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

func (s *Server) httpVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, struct {
		Service string
		URL     string
		Version string
	}{"Mesos-DNS", "https://github.com/mesosphere/mesos-dns", version.Version})
}

// wireConfig is /v1/config: Mesos-DNS's keys that apply to Basalt.
type wireConfig struct {
	RefreshSeconds int
	TTL            int
	Domain         string
	Resolvers      []string
	ZoneResolvers  map[string][]string
	Timeout        int
	SOAMname       string
	SOARname       string
	SOARefresh     uint32
	SOARetry       uint32
	SOAExpire      uint32
	SOAMinttl      uint32
	RecurseOn      bool
	ExternalOn     bool
	SetTruncateBit bool
	DnsOn          bool //nolint:revive // Mesos-DNS's key
	HttpOn         bool //nolint:revive // Mesos-DNS's key
}

func (s *Server) httpConfig(w http.ResponseWriter, _ *http.Request) {
	c := s.cfg
	zr := c.ForwardZones
	if zr == nil {
		zr = map[string][]string{}
	}
	res := c.Resolvers
	if res == nil {
		res = []string{}
	}
	writeJSON(w, wireConfig{
		RefreshSeconds: int(c.Refresh / time.Second),
		TTL:            int(c.TTL / time.Second),
		Domain:         c.Domain,
		Resolvers:      res,
		ZoneResolvers:  zr,
		Timeout:        int(c.Timeout / time.Second),
		SOAMname:       fqdn(c.SOAMname),
		SOARname:       fqdn(c.SOARname),
		SOARefresh:     c.SOARefresh,
		SOARetry:       c.SOARetry,
		SOAExpire:      c.SOAExpire,
		SOAMinttl:      c.SOAMinttl,
		RecurseOn:      c.Recurse,
		ExternalOn:     c.Recurse && (len(c.Resolvers) > 0 || len(c.ForwardZones) > 0),
		SetTruncateBit: c.SetTruncateBit,
		DnsOn:          true,
		HttpOn:         true,
	})
}

// pathName turns a {host} or {service} path value into a table key.
func pathName(v string) string {
	v = strings.ReplaceAll(v, ".*", "")
	return fqdn(v)
}

type wireHost struct {
	Host string `json:"host"`
	IP   string `json:"ip"`
}

func (s *Server) httpHost(w http.ResponseWriter, r *http.Request) {
	name := pathName(r.PathValue("host"))
	t := s.Table()
	var out []wireHost
	if set := t.Names[name]; set != nil {
		for _, a := range set.A {
			out = append(out, wireHost{name, a.String()})
		}
		for _, a := range set.AAAA {
			out = append(out, wireHost{name, a.String()})
		}
	}
	if len(out) == 0 {
		out = []wireHost{{}}
	}
	writeJSON(w, out)
}

func (s *Server) httpPorts(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "To be implemented...", http.StatusNotImplemented)
}

type wireService struct {
	Service string `json:"service"`
	Host    string `json:"host"`
	IP      string `json:"ip"`
	Port    string `json:"port"`
}

func (s *Server) httpService(w http.ResponseWriter, r *http.Request) {
	raw := r.PathValue("service")
	name := pathName(raw)
	t := s.Table()
	var out []wireService
	if set := t.Names[name]; set != nil {
		for _, v := range set.SRV {
			target := fqdn(v.Target)
			ip := ""
			if ts := t.Names[target]; ts != nil {
				if len(ts.A) > 0 {
					ip = ts.A[0].String()
				} else if len(ts.AAAA) > 0 {
					ip = ts.AAAA[0].String()
				}
			}
			out = append(out, wireService{raw, target, ip, strconv.Itoa(int(v.Port))})
		}
	}
	if len(out) == 0 {
		out = []wireService{{}}
	}
	writeJSON(w, out)
}

type wireEnum struct {
	Frameworks []wireEnumFramework `json:"frameworks"`
}

type wireEnumFramework struct {
	Name  string         `json:"name"`
	Tasks []wireEnumTask `json:"tasks"`
}

type wireEnumTask struct {
	Name    string           `json:"name"`
	ID      string           `json:"id"`
	Records []wireEnumRecord `json:"records"`
}

type wireEnumRecord struct {
	Name  string `json:"name"`
	Host  string `json:"host"`
	RType string `json:"rtype"`
}

func (s *Server) httpEnumerate(w http.ResponseWriter, _ *http.Request) {
	t := s.Table()
	out := wireEnum{Frameworks: make([]wireEnumFramework, 0, len(t.Frameworks))}
	for _, f := range t.Frameworks {
		wf := wireEnumFramework{Name: f.Name, Tasks: make([]wireEnumTask, 0, len(f.Tasks))}
		for _, tk := range f.Tasks {
			wt := wireEnumTask{Name: tk.Name, ID: tk.ID, Records: make([]wireEnumRecord, 0, len(tk.Records))}
			for _, rec := range tk.Records {
				wt.Records = append(wt.Records, wireEnumRecord(rec))
			}
			wf.Tasks = append(wf.Tasks, wt)
		}
		out.Frameworks = append(out.Frameworks, wf)
	}
	writeJSON(w, out)
}

type wireAXFR struct {
	TTL            int
	Serial         uint32
	RefreshSeconds int
	Mname          string
	Rname          string
	Domain         string
	Records        struct {
		As   map[string][]string
		SRVs map[string][]string
	}
}

func (s *Server) httpAXFR(w http.ResponseWriter, _ *http.Request) {
	z := s.z.Load()
	out := wireAXFR{
		TTL:            int(s.cfg.TTL / time.Second),
		Serial:         z.serial,
		RefreshSeconds: int(s.cfg.Refresh / time.Second),
		Mname:          fqdn(s.cfg.SOAMname),
		Rname:          fqdn(s.cfg.SOARname),
		Domain:         s.cfg.Domain,
	}
	out.Records.As = map[string][]string{}
	out.Records.SRVs = map[string][]string{}
	domain := fqdn(s.cfg.Domain)
	for name, set := range z.table.Names {
		if set == nil || !inZone(fqdn(name), domain) {
			continue
		}
		for _, a := range set.A {
			out.Records.As[name] = append(out.Records.As[name], a.String())
		}
		for _, v := range set.SRV {
			out.Records.SRVs[name] = append(out.Records.SRVs[name], net.JoinHostPort(fqdn(v.Target), strconv.Itoa(int(v.Port))))
		}
	}
	for _, m := range []map[string][]string{out.Records.As, out.Records.SRVs} {
		for _, v := range m {
			slices.Sort(v)
		}
	}
	writeJSON(w, out)
}

type wireRecord struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
	TTL   uint32 `json:"ttl"`
}

func (s *Server) httpRecords(w http.ResponseWriter, _ *http.Request) {
	z := s.z.Load()
	out := []wireRecord{}
	for name, e := range z.names {
		for _, sec := range [][]mdns.RR{e.a, e.aaaa, e.srv} {
			for _, rr := range sec {
				h := rr.Header()
				v := strings.TrimPrefix(rr.String(), h.String())
				out = append(out, wireRecord{Name: name, Type: mdns.TypeToString[h.Rrtype], Value: v, TTL: h.Ttl})
			}
		}
	}
	slices.SortFunc(out, func(a, b wireRecord) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.Value, b.Value)
	})
	writeJSON(w, out)
}

type wireVIP struct {
	VIP       string        `json:"vip"`
	Name      string        `json:"name,omitempty"`
	Framework string        `json:"framework,omitempty"`
	IP        string        `json:"ip"`
	Port      uint16        `json:"port"`
	Protocol  string        `json:"protocol"`
	Backends  []wireBackend `json:"backends"`
}

type wireBackend struct {
	IP     string `json:"ip"`
	Port   uint16 `json:"port"`
	TaskID string `json:"task_id"`
}

func (s *Server) httpVIPs(w http.ResponseWriter, _ *http.Request) {
	t := s.Table()
	out := make([]wireVIP, 0, len(t.VIPs))
	for _, v := range t.VIPs {
		out = append(out, vipToWire(v))
	}
	writeJSON(w, out)
}

func vipToWire(v records.VIP) wireVIP {
	port := strconv.Itoa(int(v.Port))
	wv := wireVIP{Name: v.Name, Framework: v.Framework, Port: v.Port, Protocol: v.Protocol, Backends: make([]wireBackend, 0, len(v.Backends))}
	if v.IP.IsValid() {
		wv.IP = v.IP.String()
	}
	if v.FQDN != "" {
		wv.VIP = strings.TrimSuffix(v.FQDN, ".") + ":" + port
	} else {
		wv.VIP = net.JoinHostPort(wv.IP, port)
	}
	for _, b := range v.Backends {
		wv.Backends = append(wv.Backends, wireBackend{IP: b.IP.String(), Port: b.Port, TaskID: b.TaskID})
	}
	return wv
}
