// Package conductor is novakit's nova-conductor: it owns the multi-step
// flows between the API, the scheduler, placement and the compute agents
// (build with reschedules, resize and cold migration, rebuild and
// evacuate, unshelve), and it is the agents' only way to the database.
package conductor
