// json_dump.h: JSON text that never throws on bad strings. Apart from log.h
// (which includes it) so that the nginx module's web bridge (ow_web.h) can
// link it without the logger and its globals.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ow {

// Serialises JSON without throwing on invalid UTF-8 (replaced by U+FFFD).
std::string json_dump(const nlohmann::json &j);

}  // namespace ow
