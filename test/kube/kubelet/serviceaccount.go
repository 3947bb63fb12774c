package kubelet

import (
	"context"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// tokenSeconds is the lifetime of a pod's service-account token. It is not renewed: a test pod
// lives far shorter.
const tokenSeconds = 3600

// automount reports whether the pod gets service-account credentials (automountServiceAccountToken
// not false).
func automount(p *corev1.Pod) bool {
	a := p.Spec.AutomountServiceAccountToken
	return a == nil || *a
}

// serviceAccountFiles is this kubelet's stand-in for the projected service-account volume of a real
// pod (/var/run/secrets/kubernetes.io/serviceaccount): a token of the pod's service account bound
// to the pod (TokenRequest API), written with ca.crt and namespace to <pod dir>/serviceaccount, plus
// a kubeconfig there with the API server this kubelet uses, that CA, the token and the pod's
// namespace. The process gets KUBECONFIG=<that kubeconfig>: it cannot read /var/run/secrets. It
// returns the kubeconfig path and the dir and files to give to the pod's user.
func (k *Kubelet) serviceAccountFiles(ctx context.Context, p *pod) (string, []string, error) {
	sa := p.spec.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	expiry := int64(tokenSeconds)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &expiry,
		BoundObjectRef: &authenticationv1.BoundObjectReference{
			Kind: "Pod", APIVersion: "v1", Name: p.spec.Name, UID: p.spec.UID,
		},
	}}
	tr, err := k.client.CoreV1().ServiceAccounts(p.spec.Namespace).CreateToken(ctx, sa, tr, metaCreate)
	if err != nil {
		return "", nil, err
	}

	dir := filepath.Join(p.dir, "serviceaccount")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["in-cluster"] = &clientcmdapi.Cluster{Server: k.cfg.APIServer, CertificateAuthorityData: k.cfg.APICA}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["in-cluster"] = &clientcmdapi.Context{Cluster: "in-cluster", AuthInfo: sa, Namespace: p.spec.Namespace}
	kc.CurrentContext = "in-cluster"
	kcBytes, err := clientcmd.Write(*kc)
	if err != nil {
		return "", nil, err
	}

	files := map[string][]byte{
		"token":      []byte(tr.Status.Token),
		"ca.crt":     k.cfg.APICA,
		"namespace":  []byte(p.spec.Namespace),
		"kubeconfig": kcBytes,
	}
	owned := []string{dir}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return "", nil, err
		}
		owned = append(owned, path)
	}
	return filepath.Join(dir, "kubeconfig"), owned, nil
}
