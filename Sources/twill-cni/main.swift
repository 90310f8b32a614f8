// twill-cni: a CNI plugin configured like flannel's (subnetFile, dataDir, delegate, ipam). It reads
// twilld's subnet file and hands the container to the bridge plugin with host-local addressing.
// Protocol: CNI_* environment, network config on stdin, result or error JSON on stdout.
import Foundation
import TwillControl

exit(TwillCNI.run(environment: ProcessInfo.processInfo.environment))
