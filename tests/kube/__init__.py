"""A real Kubernetes control plane for the tests (etcd, kube-apiserver, controller-manager, scheduler)
with kwok's fake nodes in place of kubelets, which cannot run on these machines."""
