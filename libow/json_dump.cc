// json_dump.cc: see json_dump.h.
#include "libow/json_dump.h"

namespace ow {

std::string json_dump(const nlohmann::json &j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace ow
