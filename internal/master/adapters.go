package master

import (
	"context"
	"fmt"
	"sync"

	"github.com/basalt-dcos/basalt/internal/mesos"
	"github.com/basalt-dcos/basalt/internal/store"
)

// electionName is the store election the Mesos masters campaign in.
const electionName = "mesos"

// storeRegistry persists the kernel's registry in the store.
type storeRegistry struct {
	st     *store.Store
	agents *store.Collection[mesos.RegisteredAgent]
	fws    *store.Collection[mesos.RegisteredFramework]
}

func newStoreRegistry(st *store.Store) *storeRegistry {
	return &storeRegistry{
		st:     st,
		agents: store.NewCollection[mesos.RegisteredAgent](st, "mesos/registry/agents"),
		fws:    store.NewCollection[mesos.RegisteredFramework](st, "mesos/registry/frameworks"),
	}
}

func (r *storeRegistry) Load(ctx context.Context) (mesos.RegistryState, error) {
	cid, err := r.st.EnsureClusterID(ctx)
	if err != nil {
		return mesos.RegistryState{}, err
	}
	agents, err := r.agents.List(ctx)
	if err != nil {
		return mesos.RegistryState{}, fmt.Errorf("load agents: %w", err)
	}
	fws, err := r.fws.List(ctx)
	if err != nil {
		return mesos.RegistryState{}, fmt.Errorf("load frameworks: %w", err)
	}
	return mesos.RegistryState{ClusterID: cid, Agents: agents, Frameworks: fws}, nil
}

func (r *storeRegistry) Apply(ctx context.Context, ops ...mesos.RegistryOp) error {
	var sops []store.Op
	for _, op := range ops {
		switch {
		case op.PutAgent != nil:
			sops = append(sops, r.agents.PutOp(op.PutAgent.Info.ID.Value, *op.PutAgent))
		case op.DeleteAgent != "":
			sops = append(sops, r.agents.DeleteOp(op.DeleteAgent))
		case op.PutFramework != nil:
			sops = append(sops, r.fws.PutOp(op.PutFramework.Info.ID.Value, *op.PutFramework))
		case op.DeleteFramework != "":
			sops = append(sops, r.fws.DeleteOp(op.DeleteFramework))
		case op.SetClusterID != "":
			// The store owns the cluster ID (EnsureClusterID in Load).
		}
	}
	if len(sops) == 0 {
		return nil
	}
	// Fence: a master that lost its leadership must not overwrite what its
	// successor wrote (ctx descends from the election's leaderCtx).
	if g, ok := store.LeadershipGuard(ctx); ok {
		sops = append([]store.Op{g}, sops...)
	}
	if err := r.st.Apply(ctx, sops...); err != nil {
		return fmt.Errorf("registry apply: %w", err)
	}
	return nil
}

// storeElector campaigns in the store's "mesos" election. While this master
// leads, its etcd member hands raft leadership to a peer (and keeps it off):
// a Mesos leader that is also the raft leader takes a raft election and a
// lease extension with it when it dies, which more than doubles failover; and
// a master whose member leads raft lets its peers campaign first.
type storeElector struct{ st *store.Store }

func (e storeElector) Run(ctx context.Context, value string, lead func(context.Context) error) error {
	e.st.DeferIfRaftLeader(ctx)
	return e.st.NewElection(electionName, value).Run(ctx, func(leaderCtx context.Context) error {
		kctx, stop := context.WithCancel(leaderCtx)
		var wg sync.WaitGroup
		wg.Go(func() { e.st.KeepRaftLeaderAway(kctx) })
		defer wg.Wait()
		defer stop()
		return lead(leaderCtx)
	})
}

func (e storeElector) Observe(ctx context.Context) <-chan string {
	return e.st.ObserveLeader(ctx, electionName)
}
