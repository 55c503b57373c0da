// params.h: OpenWhisk entity conventions shared by the sidecar (one action)
// and the gateway's web bridge (ow_web.h: sequences and conductor actions):
// reading annotations, splitting parameter arrays, the error body.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ow {

// The annotation value for key, or null.
const nlohmann::json &annotation(const nlohmann::json &annotations, const std::string &key);

// OpenWhisk truthiness of an annotation value (true, non-zero, non-empty).
bool truthy(const nlohmann::json &v);

// Adds a parameter array [{"key","value","init"?}...] to the run and init
// parameter objects: a later key wins (and leaves the other object); a
// truthy "init" makes it an init parameter. Not an array, or entries without
// a string key: ignored. Package ← binding ← action: call in that order.
void add_params(const nlohmann::json &params, nlohmann::json *run_params,
                nlohmann::json *init_params);

// 400 when a request overrides a reserved or `final` parameter.
extern const char kFinalError[];

// {"error": msg, "code": code}: the OpenWhisk error body.
nlohmann::json error_body(const std::string &msg, const std::string &code);

}  // namespace ow
