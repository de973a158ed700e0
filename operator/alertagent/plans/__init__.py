"""Pure plans: what one reconcile step should change, computed from the desired objects and what is
deployed. No Kubernetes, HTTP or Kopf here: the reconcile steps apply the plans."""
