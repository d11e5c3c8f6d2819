// The IR parser: reads back the text form that Printer.h writes, so tests and tools can write kernels as text and
// every stage's dump can be loaded again. print(parse_kernel(print(k))) == print(k) for every kernel k.
//
// Value names keep their hints: `%x` gets the name "x", `%12` gets none, and `%iv_7` (the printer's spelling of a
// second "iv" as the value numbered 7) gets "iv" again, so the re-printed text is the same.
//
// Every problem in the text is a UserError that starts with "line L, col C: " and says what was expected or what is
// wrong (unknown operation, undefined or redefined value, bad type, operand types the typing rules reject). The parsed
// kernel is then verified; a kernel the verifier rejects (say, a loop-body value used after the loop) is reported as
// a UserError carrying the verifier's message, since the fault lies in the text, not in the compiler.
#pragma once

#include <memory>
#include <string_view>

#include "compiler/ir/IR.h"

namespace xent::ir {

std::unique_ptr<Kernel> parse_kernel(std::string_view text);

}  // namespace xent::ir
