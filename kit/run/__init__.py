"""Running the race: the runner (plan x strategies x runtime -> records), the supervisor of one
sandbox, the floor search, doctor, leftovers, and the manifests a Kubernetes run would create."""
