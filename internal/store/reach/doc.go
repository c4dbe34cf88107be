// Package reach tells the long-running components (node agent, cluster controllers, lab
// controller, DNS) whether their datastore can be reached: a Monitor probes the store
// every second with the cheapest request there is (a Get of an object that does not exist),
// logs a warning naming the endpoint when it stops answering and again when it answers
// again, keeps the `trellis_datastore_up` gauge and `trellis_datastore_reconnects_total`
// counter, and wakes whoever waits on Back so that they list again and re-watch (a watch
// on an unreachable etcd waits silently, see store/etcd).
//
// Invariants:
//   - only probes decide: up when the store answers (ErrNotFound is an answer), down after
//     a failed or timed-out probe; an operation failing elsewhere may report ErrUnavailable
//     early through Observe;
//   - Back's channel is closed exactly once per return, after the state says up.
//
// It must never write to the store or change anything but its own state and metrics.
package reach
