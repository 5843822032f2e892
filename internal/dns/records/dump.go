package records

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// Dump renders t as text, one line per record, for golden tests and
// debugging. Records are sorted by line; then come the VIPs
// ("VIP <ip>:<port>/<proto> <fqdn or -> <framework> <backend,...>") and
// the enumeration ("ENUM <framework> <task> <task id> <name> <type>
// <host>").
func Dump(t *Table) string {
	var lines []string
	for name, s := range t.Names {
		for _, a := range s.A {
			lines = append(lines, name+" A "+a.String())
		}
		for _, a := range s.AAAA {
			lines = append(lines, name+" AAAA "+a.String())
		}
		for _, r := range s.SRV {
			lines = append(lines, name+" SRV "+strconv.Itoa(int(r.Priority))+" "+strconv.Itoa(int(r.Weight))+" "+
				strconv.Itoa(int(r.Port))+" "+r.Target)
		}
	}
	slices.Sort(lines)
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString(l)
		sb.WriteByte('\n')
	}
	for _, v := range t.VIPs {
		fqdn := v.FQDN
		if fqdn == "" {
			fqdn = "-"
		}
		sb.WriteString("VIP " + netip.AddrPortFrom(v.IP, v.Port).String() + "/" + v.Protocol + " " + fqdn + " " + v.Framework)
		for i, be := range v.Backends {
			sep := ","
			if i == 0 {
				sep = " "
			}
			sb.WriteString(sep + netip.AddrPortFrom(be.IP, be.Port).String() + "=" + be.TaskID)
		}
		sb.WriteByte('\n')
	}
	for _, f := range t.Frameworks {
		if len(f.Tasks) == 0 {
			sb.WriteString("ENUM " + strconv.Quote(f.Name) + "\n")
		}
		for _, tk := range f.Tasks {
			for _, r := range tk.Records {
				sb.WriteString("ENUM " + strconv.Quote(f.Name) + " " + strconv.Quote(tk.Name) + " " + tk.ID + " " +
					r.Name + " " + r.RType + " " + r.Host + "\n")
			}
		}
	}
	return sb.String()
}

// StateFromOperator builds a State from a v1 operator GET_STATE response
// (running, unreachable and completed tasks alike; Build keeps only the
// running ones), the leading master and the masters' addresses.
func StateFromOperator(gs *mesosv1.OperatorState, leader *mesosv1.MasterInfo, masters []netip.Addr) *State {
	st := &State{Leader: leader, Masters: masters}
	for i := range gs.GetAgents.Agents {
		st.Agents = append(st.Agents, &gs.GetAgents.Agents[i])
	}
	for i := range gs.GetFrameworks.Frameworks {
		st.Frameworks = append(st.Frameworks, &gs.GetFrameworks.Frameworks[i])
	}
	for _, ts := range [][]mesosv1.Task{gs.GetTasks.Tasks, gs.GetTasks.UnreachableTasks, gs.GetTasks.CompletedTasks} {
		for i := range ts {
			st.Tasks = append(st.Tasks, &ts[i])
		}
	}
	return st
}
