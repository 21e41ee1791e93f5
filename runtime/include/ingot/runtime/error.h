// Runtime errors: every failure is an ingot::Error whose message names what
// went wrong and where (file, tensor, section, step). The runtime uses
// exceptions internally; tools catch them at the top and print the message.
#pragma once
#include <stdexcept>
#include <string>

namespace ingot {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string &msg) : std::runtime_error(msg) {}
};

// Throws ingot::Error when `cond` is false. `msg` is only built on failure.
#define INGOT_CHECK(cond, msg)                                                 \
  do {                                                                         \
    if (!(cond))                                                               \
      throw ::ingot::Error(std::string(msg));                                  \
  } while (0)

} // namespace ingot
