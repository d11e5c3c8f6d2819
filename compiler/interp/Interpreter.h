// The CPU interpreter: runs a kernel's IR on host memory with the GPU's numeric rules. It is the oracle that lets CI
// (no GPU) test every kernel variant against an fp64 reference, and the reference the GPU results are checked against.
//
// Numerics are Semantics.h's, element for element (so the interpreter and constant folding agree): fp32 arithmetic,
// round-to-nearest-even into bf16/f16, maxNum/minNum, wrapping integers. Beyond them:
//  - loads widen bf16/f16 exactly to fp32; stores narrow values of the pointee type to its storage;
//  - masked-off elements of a load or store touch no memory (a masked tail may point past its tensor) and a load
//    gives `other` (or 0) there;
//  - reduce sum is pairwise in fp32, like a GPU tree reduction, so 10^6-element sums stay accurate to ~1e-7;
//    reduce max/min ignore NaN unless every element is NaN;
//  - `for` runs iv = lb, lb + step, ... while iv < ub (step must be positive); `if` runs one region;
//  - async_copy reads its source at once but writes its destination only at the async_wait that completes its group
//    (async_wait 0: every copy; async_wait n: all but the copies of the n groups committed last and those not
//    committed yet), so a kernel that reads shared memory before the wait for it reads what was there before;
//    shared_alloc gives each program a buffer of 0xff bytes, so reading shared memory no copy wrote (yet) gives NaN
//    (or -1), as a GPU gives garbage.
//
// Execution model: program instances run one after another (x fastest, then y, then z), each evaluating whole tiles
// per operation; values live in slots numbered once per run (Slot.h), so the cost per element is a tight loop.
// A kernel with the attribute "cluster" = C > 1 runs its programs in clusters of C consecutive x indices, the C of a
// cluster at once on threads of their own, meeting at each cluster_barrier (the grid's x extent must divide by C).
//
// Memory safety: every load and store must fall inside one registered Buffer and be aligned to its element size;
// otherwise run() throws a UserError naming the kernel, the operation and its source location, the program instance,
// the element and address, and the nearest buffer. Stores write through Buffer::data: register writable memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "compiler/ir/IR.h"

namespace xent::interp {

// A host memory range that kernels may access. Every load and store must fall inside one registered buffer.
struct Buffer {
  const void* data;
  size_t bytes;
};

// One kernel argument: a pointer (must point into a registered buffer, or be null if never dereferenced), or a scalar
// of exactly the parameter's type (no implicit conversions: a mismatch is reported, not guessed at).
class Arg {
 public:
  static Arg pointer(const void* p);
  static Arg i1(bool v);
  static Arg i32(int32_t v);
  static Arg i64(int64_t v);
  static Arg f16(float v);   // rounded to f16, nearest even
  static Arg bf16(float v);  // rounded to bf16, nearest even
  static Arg f32(float v);

  // ScalarType::Ptr for pointers.
  ir::ScalarType type() const { return type_; }
  const void* address() const { return address_; }
  // A scalar's value, held as Semantics.h holds literals.
  const ir::Literal& value() const { return value_; }
  // "ptr 0x7f..." or "i32 7", for error messages.
  std::string str() const;

 private:
  Arg(ir::ScalarType type, const void* address, ir::Literal value) : type_(type), address_(address), value_(value) {}
  ir::ScalarType type_;
  const void* address_;
  ir::Literal value_;
};

struct Grid {
  int64_t x = 1, y = 1, z = 1;
};

// Runs `kernel` once per program instance of `grid`, in order (x fastest). Throws UserError on: argument count or
// type mismatch (naming the parameter), a constexpr op left unspecialized (naming it), an access outside every
// registered buffer or misaligned for its type (naming the kernel, the op's printed location, the address and the
// nearest buffer), integer division by zero, a non-positive loop step, a negative grid extent.
void run(const ir::Kernel& kernel, Grid grid, std::span<const Arg> args, std::span<const Buffer> buffers);

}  // namespace xent::interp
