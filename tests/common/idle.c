/* A process that does nothing until its parent goes: the test bed node's init, and the
 * `kube-proxy` and `kubelet` processes that `svcprobe node` finds in /proc (copied under
 * those names, started with their flags, which it ignores). tests/common/kubeproxy.rs
 * builds it with cc. */
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void) {
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;)
		pause();
}
