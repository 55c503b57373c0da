// termination_log.h: the init failure written where Kubernetes reads a
// container's termination message (terminationMessagePath, --termination-log):
// the pool-manager's Kubernetes backend takes the sidecar's init error JSON
// from status.containerStatuses[].state.terminated.message, as the local
// backend takes it from the "failed <json>" line on --ready-fd.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace ow::sidecar {

// The kubelet keeps at most 4096 bytes of a termination message.
constexpr size_t kTerminationLogMax = 4096;

// The JSON text to write: the whole error when it fits; otherwise without
// its "logs", then with "error" shortened, so it stays valid JSON.
std::string termination_message(const nlohmann::json &init_error, size_t max = kTerminationLogMax);
// Writes it to path ("" = nothing to do); false when the file cannot be written.
bool write_termination_log(const std::string &path, const nlohmann::json &init_error);

}  // namespace ow::sidecar
