// Test helper: run code that must fail with a UserError, and get its message to check what it names.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "compiler/Error.h"

namespace xent::testing {

// Runs `body` expecting a UserError, and returns its message (a test failure, and "", when none is thrown).
template <class F>
std::string user_error(F body) {
  try {
    body();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError";
  return {};
}

}  // namespace xent::testing
