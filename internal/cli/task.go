package cli

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func newTaskCmd(env Env) *cobra.Command {
	cmd := newTaskListCmd(env, "task [<task>]")
	cmd.Short = "List and inspect tasks"
	cmd.AddCommand(newTaskListCmd(env, "list [<task>]"), newTaskLogCmd(env), newTaskExecCmd(env))
	return cmd
}

// taskRow is a task with what the tables need from around it.
type taskRow struct {
	mesosv1.StateTask
	raw       json.RawMessage
	framework *mesosv1.StateFramework
	completed bool
}

// collectTasks returns the tasks of every framework, active ones unless
// completed is set, completed ones if completed or all is set, filtered by
// pattern (see matchTask) and sorted by name then ID.
func collectTasks(st *masterState, active, completed bool, pattern string) []taskRow {
	var rows []taskRow
	add := func(f *mesosv1.StateFramework, tasks []mesosv1.StateTask, raws []json.RawMessage, done bool) {
		for i, t := range tasks {
			if !matchTask(pattern, t) {
				continue
			}
			var raw json.RawMessage
			if i < len(raws) {
				raw = raws[i]
			}
			rows = append(rows, taskRow{StateTask: t, raw: raw, framework: f, completed: done})
		}
	}
	for i := range st.Frameworks {
		f, rf := &st.Frameworks[i], st.raw.Frameworks[i]
		if active {
			add(f, f.Tasks, rf.Tasks, false)
			add(f, f.UnreachableTasks, rf.UnreachableTasks, false)
		}
		if completed {
			add(f, f.CompletedTasks, rf.CompletedTasks, true)
		}
	}
	if completed {
		for i := range st.CompletedFrameworks {
			f, rf := &st.CompletedFrameworks[i], st.raw.CompletedFrameworks[i]
			add(f, f.Tasks, rf.Tasks, true)
			add(f, f.CompletedTasks, rf.CompletedTasks, true)
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Name != rows[j].Name {
			return rows[i].Name < rows[j].Name
		}
		return rows[i].ID < rows[j].ID
	})
	return rows
}

// matchTask reports whether a task matches what the user typed: everything
// matches ""; a shell glob is matched against the ID and the name; anything
// else is a prefix of the ID or of the name.
func matchTask(pattern string, t mesosv1.StateTask) bool {
	if pattern == "" {
		return true
	}
	if strings.ContainsAny(pattern, "*?[") {
		okID, _ := path.Match(pattern, t.ID)
		okName, _ := path.Match(pattern, t.Name)
		return okID || okName
	}
	return strings.HasPrefix(t.ID, pattern) || strings.HasPrefix(t.Name, pattern)
}

func newTaskListCmd(env Env, use string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: "List tasks (active ones unless --all or --completed)",
		Args:  cobra.MaximumNArgs(1),
	}
	client, asJSON := clientFlags(cmd, env)
	all := cmd.Flags().Bool("all", false, "show active and completed tasks")
	completed := cmd.Flags().Bool("completed", false, "show completed tasks only")
	cmd.MarkFlagsMutuallyExclusive("all", "completed")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := client()
		if err != nil {
			return err
		}
		pattern := ""
		if len(args) == 1 {
			pattern = args[0]
		}
		st, err := c.masterState(cmd.Context())
		if err != nil {
			return err
		}
		rows := collectTasks(st, !*completed, *all || *completed, pattern)
		if *asJSON {
			raws := []json.RawMessage{}
			for _, r := range rows {
				raws = append(raws, r.raw)
			}
			return printJSON(env.Stdout, raws)
		}
		t := newTable(env.Stdout, "NAME", "HOST", "USER", "STATE", "ID", "AGENT ID")
		for _, r := range rows {
			host := ""
			if a, ok := st.agent(r.SlaveID); ok {
				host = a.Hostname
			}
			t.row(r.Name, host, r.framework.User, shortState(r.State), r.ID, r.SlaveID)
		}
		return t.flush()
	}
	return cmd
}

// shortState drops the TASK_ prefix: RUNNING, FINISHED... (the dcos CLI
// used one letter, which made FINISHED and FAILED look alike).
func shortState(s string) string { return strings.TrimPrefix(s, "TASK_") }

// findOneTask returns the single task matching pattern, preferring an exact
// ID match over prefix and glob matches.
func findOneTask(rows []taskRow, pattern string) (taskRow, error) {
	for _, r := range rows {
		if r.ID == pattern {
			return r, nil
		}
	}
	switch len(rows) {
	case 0:
		return taskRow{}, fmt.Errorf("no task matches %q", pattern)
	case 1:
		return rows[0], nil
	}
	ids := make([]string, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	if len(ids) > 5 {
		ids = append(ids[:5], "...")
	}
	return taskRow{}, fmt.Errorf("%q matches %d tasks (%s): give more of the task ID", pattern, len(rows), strings.Join(ids, ", "))
}
