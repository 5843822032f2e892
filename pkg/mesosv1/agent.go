package mesosv1

// This file holds the part of the v1 agent API (POST /api/v1 on an agent,
// agent.proto Call/Response) that `dcos task exec` uses, as JSON: a nested
// container session whose output streams back as RecordIO ProcessIO records,
// its input streamed in by ATTACH_CONTAINER_INPUT, and its exit status from
// WAIT_NESTED_CONTAINER. Bytes are base64 in JSON, as protobuf's JSON mapping
// has them.

// Agent call types.
const (
	AgentLaunchNestedContainerSession = "LAUNCH_NESTED_CONTAINER_SESSION"
	AgentAttachContainerInput         = "ATTACH_CONTAINER_INPUT"
	AgentWaitNestedContainer          = "WAIT_NESTED_CONTAINER"
	AgentKillNestedContainer          = "KILL_NESTED_CONTAINER"
)

// ProcessIO and AttachContainerInput enum values.
const (
	IOData    = "DATA"
	IOControl = "CONTROL"

	IOStdin  = "STDIN"
	IOStdout = "STDOUT"
	IOStderr = "STDERR"

	IOTTYInfo   = "TTY_INFO"
	IOHeartbeat = "HEARTBEAT"

	AttachContainerID = "CONTAINER_ID"
	AttachProcessIO   = "PROCESS_IO"
)

// Media types of the agent API's streams.
const (
	MediaRecordIO = "application/recordio"
	MediaJSON     = "application/json"
)

// ContainerID names a container; a nested container names its parent.
type ContainerID struct {
	Value  string       `json:"value"`
	Parent *ContainerID `json:"parent,omitempty"`
}

// AgentCall is a v1 agent API call; the member named after Type carries the
// arguments.
type AgentCall struct {
	Type                         string                        `json:"type"`
	LaunchNestedContainerSession *LaunchNestedContainerSession `json:"launch_nested_container_session,omitempty"`
	AttachContainerInput         *AttachContainerInput         `json:"attach_container_input,omitempty"`
	WaitNestedContainer          *NestedContainerRef           `json:"wait_nested_container,omitempty"`
	KillNestedContainer          *KillNestedContainer          `json:"kill_nested_container,omitempty"`
}

// LaunchNestedContainerSession is Call.LaunchNestedContainerSession: run
// Command in a container nested in ContainerID.Parent for as long as the
// HTTP response streams its output.
type LaunchNestedContainerSession struct {
	ContainerID ContainerID    `json:"container_id"`
	Command     *CommandInfo   `json:"command,omitempty"`
	Container   *ContainerInfo `json:"container,omitempty"`
}

// AttachContainerInput is one record of an ATTACH_CONTAINER_INPUT stream:
// the first names the container, the others carry ProcessIO.
type AttachContainerInput struct {
	Type        string       `json:"type"`
	ContainerID *ContainerID `json:"container_id,omitempty"`
	ProcessIO   *ProcessIO   `json:"process_io,omitempty"`
}

// NestedContainerRef is Call.WaitNestedContainer.
type NestedContainerRef struct {
	ContainerID ContainerID `json:"container_id"`
}

// KillNestedContainer is Call.KillNestedContainer.
type KillNestedContainer struct {
	ContainerID ContainerID `json:"container_id"`
	Signal      int         `json:"signal,omitempty"`
}

// ProcessIO is a chunk of a process's input or output, or a control message
// (terminal size, heartbeat).
type ProcessIO struct {
	Type    string            `json:"type"`
	Data    *ProcessIOData    `json:"data,omitempty"`
	Control *ProcessIOControl `json:"control,omitempty"`
}

// ProcessIOData is ProcessIO.Data.
type ProcessIOData struct {
	Type string `json:"type"`
	Data []byte `json:"data"`
}

// ProcessIOControl is ProcessIO.Control.
type ProcessIOControl struct {
	Type      string     `json:"type"`
	TTYInfo   *TTYInfo   `json:"tty_info,omitempty"`
	Heartbeat *Heartbeat `json:"heartbeat,omitempty"`
}

// Heartbeat is ProcessIO.Control.Heartbeat.
type Heartbeat struct {
	Interval *DurationInfo `json:"interval,omitempty"`
}

// TTYInfo asks for (or resizes) a terminal.
type TTYInfo struct {
	WindowSize *WindowSize `json:"window_size,omitempty"`
}

// WindowSize is a terminal's size.
type WindowSize struct {
	Rows    uint32 `json:"rows"`
	Columns uint32 `json:"columns"`
}

// AgentResponse is a v1 agent API response.
type AgentResponse struct {
	Type                string                       `json:"type"`
	WaitNestedContainer *WaitNestedContainerResponse `json:"wait_nested_container,omitempty"`
}

// WaitNestedContainerResponse is Response.WaitNestedContainer. ExitStatus
// is the POSIX wait status (exit code << 8, or the signal), absent when it is
// not known.
type WaitNestedContainerResponse struct {
	ExitStatus *int   `json:"exit_status,omitempty"`
	State      string `json:"state,omitempty"`
	Message    string `json:"message,omitempty"`
}
