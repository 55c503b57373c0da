// runtimes.h: the kinds this machine can run, from runtimes-exec.json
// (written by tools/owx/runtimes.py):
//   {"nodejs:20": {"command": ["/usr/bin/node", ".../proxy.js", "--port",
//                  "{port}"], "family": "nodejs", "default": true}, ...}
// "<family>:default" resolves to the family's default kind.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace ow::pm {

struct Runtime {
    std::string kind;
    std::string family;
    std::vector<std::string> command;
    bool is_default = false;
};

class Runtimes {
public:
    // Parses the file's text; false and *err on a malformed document.
    bool load_text(const std::string &text, std::string *err);
    bool load_file(const std::string &path, std::string *err);
    // nullptr when the kind is not supported here.
    const Runtime *resolve(const std::string &kind) const;
    size_t size() const { return kinds_.size(); }

private:
    std::map<std::string, Runtime> kinds_;
};

}  // namespace ow::pm
