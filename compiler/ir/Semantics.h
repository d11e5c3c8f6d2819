// The numeric meaning of each elementwise operation on one scalar, shared by the CPU interpreter and constant folding
// so that both compute exactly what the GPU computes:
//  - float math is done in fp32 (IEEE, round to nearest even); a result of type bf16 or f16 is rounded to that type
//    with round-to-nearest-even;
//  - max/min return the non-NaN operand (IEEE maxNum/minNum, like PTX max.f32);
//  - integer math wraps at the type's width (i32 wraps at 2^32, i64 at 2^64); i1 is 0 or 1;
//  - float -> integer casts truncate toward zero, NaN gives 0 and out-of-range values saturate (like cvt.rzi.sat);
//  - integer division or remainder by zero is a UserError (the kernel has a bug), never undefined behaviour.
// A Literal holds an integer in `integer` and a float, already rounded to its type, in `real`.
#pragma once

#include <cstdint>

#include "compiler/ir/OpKind.h"
#include "compiler/ir/Type.h"

namespace xent::ir {

// Rounds an fp32 value to bf16 or f16 (round to nearest even) and back; identity for F32.
float round_to(ScalarType type, float value);
// bf16 / f16 storage conversions.
uint16_t float_to_bf16_bits(float value);
float bf16_bits_to_float(uint16_t bits);
uint16_t float_to_f16_bits(float value);
float f16_bits_to_float(uint16_t bits);

Literal eval_unary(OpKind kind, ScalarType type, Literal x);
Literal eval_binary(OpKind kind, ScalarType type, Literal a, Literal b);
bool eval_cmp(CmpPredicate predicate, ScalarType type, Literal a, Literal b);
Literal eval_cast(ScalarType from, ScalarType to, Literal x);
// Wraps an integer to the width of `type` (sign-extending i32, masking i1).
int64_t wrap_integer(ScalarType type, int64_t value);

}  // namespace xent::ir
