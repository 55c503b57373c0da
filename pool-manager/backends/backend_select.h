// backend_select.h: --backend local|kubernetes. Reads the --kube-* options
// (declared once in main.cc's table) into a KubeSetup and makes the chosen
// Backend for the daemon.
#pragma once

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "libow/options.h"
#include "pool-manager/backends/backend.h"
#include "pool-manager/backends/kube/kube_backend.h"
#include "pool-manager/backends/kube/kube_client.h"
#include "pool-manager/backends/kube/kube_config.h"
#include "pool-manager/backends/local_backend.h"

namespace ow::pm {

struct KubeSetup {
    KubeConfig api;
    KubeClientOptions client;
    KubeBackendOptions backend;
};

// From --kube-api / --kubeconfig / in-cluster, --kube-namespace,
// --kube-images, --kube-redis (default: redis), --kube-qps, --kube-burst,
// --kube-timeout, --kube-watch-timeout. False and *err on a bad value.
bool load_kube_setup(const ow::Options &opts, const std::string &redis, KubeSetup *out,
                     std::string *err);

// kind "local" or "kubernetes". For Kubernetes the API client is made too
// (*client, which must outlive the backend) and the pod and node watches
// start; on_exit and the node hook are set by the caller before the
// io_context runs.
std::unique_ptr<Backend> make_backend(boost::asio::io_context &io, const std::string &kind,
                                      const LocalBackendOptions &local, const KubeSetup &kube,
                                      std::unique_ptr<KubeClient> *client);

}  // namespace ow::pm
