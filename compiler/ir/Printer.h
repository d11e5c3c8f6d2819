// The text form of the IR: stable (values are numbered in definition order), readable, and read back by Parser.h.
//
//   kernel @scale(%x: ptr<bf16> {align = 16}, %n: i32) attributes {threads = 128} {
//     %0 = program_id axis 0 : i32
//     %1 = constexpr "vocab" : i32
//     %2 = arange 0 to 1024 : i32[1024]
//     %3 = cmp lt %2, %4 : i1[1024]
//     %5 = reduce max %6 axis 0 : f32
//     %7, %8 = for %iv = %lb to %ub step %st iter_args(%m = %9, %d = %10) -> (f32, f32) {
//       yield %11, %12
//     }
//     %13 = if %c -> (f32) { yield %a } else { yield %b }     (printed over several lines)
//     store %p, %v, %mask
//     return
//   }
//
// A value prints as %name when it has a name hint not used before in the kernel, as %name_N when its name is taken,
// and as %N otherwise, N counting every value defined so far.
#pragma once

#include <ostream>
#include <string>

#include "compiler/ir/IR.h"

namespace xent::ir {

std::string print(const Kernel& kernel);
void print(std::ostream& out, const Kernel& kernel);

// Shortest decimal text that reads back to the same double ("inf", "-inf", "nan" for the special values).
std::string format_real(double value);

}  // namespace xent::ir
