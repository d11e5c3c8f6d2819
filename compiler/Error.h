// Two error channels, as in Halide:
//  - UserError: the caller asked for something invalid (a bad spec, bad arguments, ill-typed IR built through the
//    builder). The message says what is wrong and what to change.
//  - InternalError: a compiler invariant broke (a pass produced IR the verifier rejects). The message carries the IR.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace xent {

class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Concatenates anything streamable into one string: cat("tile of ", n, " elements").
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

}  // namespace xent
