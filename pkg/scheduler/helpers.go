package scheduler

import "github.com/basalt-dcos/basalt/pkg/mesosv1"

// LaunchOp is a LAUNCH operation for Accept.
func LaunchOp(tasks ...mesosv1.TaskInfo) mesosv1.Operation {
	return mesosv1.Operation{Type: mesosv1.OpLaunch, Launch: &mesosv1.OpLaunchBody{TaskInfos: tasks}}
}

// Scalar is an unreserved scalar resource, e.g. Scalar("cpus", 0.1).
func Scalar(name string, v float64) mesosv1.Resource { return mesosv1.NewScalar(name, v) }

// Ranges is an unreserved ranges resource, e.g. Ranges("ports", Range(31000, 31001)).
func Ranges(name string, rs ...mesosv1.ValueRange) mesosv1.Resource {
	return mesosv1.NewRanges(name, rs...)
}

// Range is the inclusive range [begin, end].
func Range(begin, end uint64) mesosv1.ValueRange { return mesosv1.ValueRange{Begin: begin, End: end} }

// Refuse is a filter that refuses the declined resources for seconds.
func Refuse(seconds float64) *mesosv1.Filters { return &mesosv1.Filters{RefuseSeconds: &seconds} }

// OfferIDs returns the IDs of offers.
func OfferIDs(offers ...mesosv1.Offer) []mesosv1.ID {
	ids := make([]mesosv1.ID, len(offers))
	for i, o := range offers {
		ids[i] = o.ID
	}
	return ids
}
