package mesosv1

// Scheduler call types (scheduler.proto Call.Type).
const (
	CallSubscribe       = "SUBSCRIBE"
	CallTeardown        = "TEARDOWN"
	CallAccept          = "ACCEPT"
	CallDecline         = "DECLINE"
	CallRevive          = "REVIVE"
	CallKill            = "KILL"
	CallShutdown        = "SHUTDOWN"
	CallAcknowledge     = "ACKNOWLEDGE"
	CallReconcile       = "RECONCILE"
	CallMessage         = "MESSAGE"
	CallRequest         = "REQUEST"
	CallSuppress        = "SUPPRESS"
	CallUpdateFramework = "UPDATE_FRAMEWORK"
	// Recognised but answered as not implemented.
	CallAcceptInverseOffers        = "ACCEPT_INVERSE_OFFERS"
	CallDeclineInverseOffers       = "DECLINE_INVERSE_OFFERS"
	CallAcknowledgeOperationStatus = "ACKNOWLEDGE_OPERATION_STATUS"
	CallReconcileOperations        = "RECONCILE_OPERATIONS"
)

// Call is a scheduler call (POST /api/v1/scheduler). FrameworkID is required on
// every call but SUBSCRIBE; the member named after Type carries the arguments.
type Call struct {
	FrameworkID *ID    `json:"framework_id,omitempty"`
	Type        string `json:"type"`

	Subscribe       *CallSubscribeBody       `json:"subscribe,omitempty"`
	Accept          *CallAcceptBody          `json:"accept,omitempty"`
	Decline         *CallDeclineBody         `json:"decline,omitempty"`
	Revive          *CallReviveBody          `json:"revive,omitempty"`
	Suppress        *CallSuppressBody        `json:"suppress,omitempty"`
	Kill            *CallKillBody            `json:"kill,omitempty"`
	Shutdown        *CallShutdownBody        `json:"shutdown,omitempty"`
	Acknowledge     *CallAcknowledgeBody     `json:"acknowledge,omitempty"`
	Reconcile       *CallReconcileBody       `json:"reconcile,omitempty"`
	Message         *CallMessageBody         `json:"message,omitempty"`
	UpdateFramework *CallUpdateFrameworkBody `json:"update_framework,omitempty"`
}

// CallSubscribeBody is Call.Subscribe.
type CallSubscribeBody struct {
	FrameworkInfo   FrameworkInfo `json:"framework_info"`
	SuppressedRoles []string      `json:"suppressed_roles,omitempty"`
}

// Offer operation types.
const (
	OpLaunch      = "LAUNCH"
	OpLaunchGroup = "LAUNCH_GROUP"
	OpReserve     = "RESERVE"
	OpUnreserve   = "UNRESERVE"
	OpCreate      = "CREATE"
	OpDestroy     = "DESTROY"
)

// Operation is Offer.Operation.
type Operation struct {
	Type        string             `json:"type"`
	ID          *ID                `json:"id,omitempty"`
	Launch      *OpLaunchBody      `json:"launch,omitempty"`
	LaunchGroup *OpLaunchGroupBody `json:"launch_group,omitempty"`
	Reserve     *OpResourcesBody   `json:"reserve,omitempty"`
	Unreserve   *OpResourcesBody   `json:"unreserve,omitempty"`
}

// OpLaunchBody is Offer.Operation.Launch.
type OpLaunchBody struct {
	TaskInfos []TaskInfo `json:"task_infos"`
}

// OpLaunchGroupBody is Offer.Operation.LaunchGroup.
type OpLaunchGroupBody struct {
	Executor  ExecutorInfo  `json:"executor"`
	TaskGroup TaskGroupInfo `json:"task_group"`
}

// OpResourcesBody carries resources for RESERVE/UNRESERVE.
type OpResourcesBody struct {
	Resources []Resource `json:"resources"`
}

// CallAcceptBody is Call.Accept.
type CallAcceptBody struct {
	OfferIDs   []ID        `json:"offer_ids"`
	Operations []Operation `json:"operations,omitempty"`
	Filters    *Filters    `json:"filters,omitempty"`
}

// CallDeclineBody is Call.Decline.
type CallDeclineBody struct {
	OfferIDs []ID     `json:"offer_ids"`
	Filters  *Filters `json:"filters,omitempty"`
}

// CallReviveBody is Call.Revive; no roles means all of the framework's roles.
type CallReviveBody struct {
	Roles []string `json:"roles,omitempty"`
}

// CallSuppressBody is Call.Suppress; no roles means all of the framework's roles.
type CallSuppressBody struct {
	Roles []string `json:"roles,omitempty"`
}

// CallKillBody is Call.Kill.
type CallKillBody struct {
	TaskID     ID          `json:"task_id"`
	AgentID    *ID         `json:"agent_id,omitempty"`
	KillPolicy *KillPolicy `json:"kill_policy,omitempty"`
}

// CallShutdownBody is Call.Shutdown (shut an executor down).
type CallShutdownBody struct {
	ExecutorID ID `json:"executor_id"`
	AgentID    ID `json:"agent_id"`
}

// CallAcknowledgeBody is Call.Acknowledge; UUID is the status update's uuid.
type CallAcknowledgeBody struct {
	AgentID ID     `json:"agent_id"`
	TaskID  ID     `json:"task_id"`
	UUID    []byte `json:"uuid"`
}

// ReconcileTask names one task for explicit reconciliation.
type ReconcileTask struct {
	TaskID  ID  `json:"task_id"`
	AgentID *ID `json:"agent_id,omitempty"`
}

// CallReconcileBody is Call.Reconcile; no tasks means implicit reconciliation.
type CallReconcileBody struct {
	Tasks []ReconcileTask `json:"tasks,omitempty"`
}

// CallMessageBody is Call.Message: opaque data for an executor.
type CallMessageBody struct {
	AgentID    ID     `json:"agent_id"`
	ExecutorID ID     `json:"executor_id"`
	Data       []byte `json:"data"`
}

// CallUpdateFrameworkBody is Call.UpdateFramework.
type CallUpdateFrameworkBody struct {
	FrameworkInfo   FrameworkInfo `json:"framework_info"`
	SuppressedRoles []string      `json:"suppressed_roles,omitempty"`
}

// Scheduler event types (scheduler.proto Event.Type).
const (
	EventSubscribed = "SUBSCRIBED"
	EventOffers     = "OFFERS"
	EventRescind    = "RESCIND"
	EventUpdate     = "UPDATE"
	EventMessage    = "MESSAGE"
	EventFailure    = "FAILURE"
	EventError      = "ERROR"
	EventHeartbeat  = "HEARTBEAT"
)

// Event is one record of the SUBSCRIBE stream.
type Event struct {
	Type       string               `json:"type"`
	Subscribed *EventSubscribedBody `json:"subscribed,omitempty"`
	Offers     *EventOffersBody     `json:"offers,omitempty"`
	Rescind    *EventRescindBody    `json:"rescind,omitempty"`
	Update     *EventUpdateBody     `json:"update,omitempty"`
	Message    *EventMessageBody    `json:"message,omitempty"`
	Failure    *EventFailureBody    `json:"failure,omitempty"`
	Error      *EventErrorBody      `json:"error,omitempty"`
}

// DefaultHeartbeatIntervalSeconds is the SUBSCRIBED heartbeat interval Mesos uses.
const DefaultHeartbeatIntervalSeconds = 15.0

// EventSubscribedBody is Event.Subscribed.
type EventSubscribedBody struct {
	FrameworkID              ID          `json:"framework_id"`
	HeartbeatIntervalSeconds float64     `json:"heartbeat_interval_seconds,omitempty"`
	MasterInfo               *MasterInfo `json:"master_info,omitempty"`
}

// EventOffersBody is Event.Offers.
type EventOffersBody struct {
	Offers []Offer `json:"offers"`
}

// EventRescindBody is Event.Rescind.
type EventRescindBody struct {
	OfferID ID `json:"offer_id"`
}

// EventUpdateBody is Event.Update.
type EventUpdateBody struct {
	Status TaskStatus `json:"status"`
}

// EventMessageBody is Event.Message (from an executor).
type EventMessageBody struct {
	AgentID    ID     `json:"agent_id"`
	ExecutorID ID     `json:"executor_id"`
	Data       []byte `json:"data"`
}

// EventFailureBody is Event.Failure: an agent or executor failed.
type EventFailureBody struct {
	AgentID    *ID  `json:"agent_id,omitempty"`
	ExecutorID *ID  `json:"executor_id,omitempty"`
	Status     *int `json:"status,omitempty"`
}

// EventErrorBody is Event.Error: the framework was removed or misbehaved.
type EventErrorBody struct {
	Message string `json:"message"`
}

// StreamIDHeader is the header that carries the scheduler subscription's stream id.
const StreamIDHeader = "Mesos-Stream-Id"
