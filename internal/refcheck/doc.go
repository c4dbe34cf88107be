// Package refcheck checks a set of documents against each other and the datastore for what
// no single object's validation can see: a policy's tier exists, a new IPPool overlaps no
// other pool and an existing one keeps its CIDR and block size (as Calico refuses), a
// deleted Tier has no policies left.
//
// It is the one implementation behind `trellis apply|create|replace|delete` (checked before
// anything is written) and the admission webhook (which checks one object at a time).
//
// It only reads the datastore, through the store.Store it is handed; it never writes.
package refcheck
