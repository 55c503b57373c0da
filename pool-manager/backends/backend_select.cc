// backend_select.cc: see backend_select.h.
#include "pool-manager/backends/backend_select.h"

#include <boost/asio/post.hpp>
#include <fstream>
#include <sstream>

namespace ow::pm {

bool load_kube_setup(const ow::Options &opts, const std::string &redis, KubeSetup *out,
                     std::string *err) {
    KubeSetup k;
    const std::string &api = opts.get("kube-api");
    if (!api.empty()) {
        k.api.server = api;
        while (!k.api.server.empty() && k.api.server.back() == '/') k.api.server.pop_back();
    } else if (!opts.get("kubeconfig").empty()) {
        if (!load_kubeconfig(opts.get("kubeconfig"), opts.get("kube-context"), &k.api, err)) {
            return false;
        }
    } else if (!load_in_cluster(&k.api, err)) {
        *err += " (give --kubeconfig or --kube-api outside a cluster)";
        return false;
    }
    k.backend.ns = opts.get("kube-namespace");
    if (k.backend.ns.empty()) k.backend.ns = k.api.ns.empty() ? "default" : k.api.ns;
    k.backend.redis = opts.get("kube-redis").empty() ? redis : opts.get("kube-redis");
    std::ifstream f(opts.get("kube-images"));
    if (opts.get("kube-images").empty() || !f) {
        *err = "--kube-images: cannot read \"" + opts.get("kube-images") + "\"";
        return false;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    if (!parse_kube_images(ss.str(), &k.backend.images, err)) return false;
    k.backend.sidecar_image = opts.get("kube-sidecar-image");
    k.backend.sidecar_command = opts.get("kube-sidecar-command");
    k.backend.runtime_address = opts.get("kube-runtime-address");
    if (k.backend.sidecar_image.empty()) {
        *err = "--kube-sidecar-image is required with --backend kubernetes";
        return false;
    }
    if (!opts.get_int("kube-runtime-uid", &k.backend.runtime_uid) ||
        k.backend.runtime_uid <= 0 || k.backend.runtime_uid == k.backend.run_as_user) {
        *err = opts.describe("kube-runtime-uid") + ": expected a uid above 0 other than the "
               "sidecar's (" + std::to_string(k.backend.run_as_user) + ")";
        return false;
    }
    size_t colon = k.backend.runtime_address.rfind(':');
    if (colon == std::string::npos || colon == 0 ||
        colon + 1 == k.backend.runtime_address.size()) {
        *err = opts.describe("kube-runtime-address") + ": expected IP:PORT";
        return false;
    }
    int64_t qps = 0, burst = 0, watch_ms = 0;
    ow::OptionCheck check(opts);
    check.integer("kube-qps", &qps, 0);
    check.integer("kube-burst", &burst, 1);
    check.duration_ms("kube-timeout", &k.client.timeout_ms, 1);
    check.duration_ms("kube-watch-timeout", &watch_ms, 1000);
    if (!check.ok()) {
        err->clear();
        for (const std::string &m : check.messages()) *err += (err->empty() ? "" : "; ") + m;
        return false;
    }
    k.client.qps = static_cast<double>(qps);
    k.client.burst = burst;
    k.backend.watch.timeout_s = watch_ms / 1000;
    *out = std::move(k);
    return true;
}

std::unique_ptr<Backend> make_backend(boost::asio::io_context &io, const std::string &kind,
                                      const LocalBackendOptions &local, const KubeSetup &kube,
                                      std::unique_ptr<KubeClient> *client) {
    if (kind != "kubernetes") return std::make_unique<LocalBackend>(io, local);
    *client = std::make_unique<KubeClient>(
        [&io](std::function<void()> fn) { boost::asio::post(io, std::move(fn)); },
        std::make_shared<CurlTransport>(kube.api), kube.client);
    KubeBackendOptions o = kube.backend;
    // the sidecar's own options, as the local backend passes them
    o.api_host = local.api_host;
    o.overflow = local.overflow;
    o.start_timeout_ms = local.start_timeout_ms;
    o.memory_headroom_mb = local.memory_headroom_mb;
    auto b = std::make_unique<KubeBackend>(io, **client, o);
    b->begin();
    return b;
}

}  // namespace ow::pm
