# The docker run flags that stand in for --privileged on this host (sourced).
# Used by the docker wrapper beside this file and by build-node-image.sh.
NODE_RUN_FLAGS=(--cap-add ALL --cap-drop SYS_RESOURCE
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --security-opt systempaths=unconfined --device /dev/kmsg)
# --privileged also opens the node's device cgroup to every device; without it the
# kubelet's privileged pods (kube-proxy, the CNI daemon) fail with
# 'failed to write "a *:* rwm": .../devices.allow: operation not permitted'.
NODE_RUN_FLAGS+=(--device-cgroup-rule 'a *:* rwm')
