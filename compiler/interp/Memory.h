// The host memory a kernel run may touch, and the interpreter's loads and stores through it.
//
// Every element a load or store touches must lie inside one registered buffer and be aligned to its size, as on the
// GPU (where a stray address faults or, worse, silently reads another tensor). A violation is a UserError that says
// which element, which address, and how it misses the nearest buffer; the caller adds which kernel and operation.
// Masked-off elements touch nothing and are not checked, so a masked tail may point past the end of its tensor.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "compiler/interp/Interpreter.h"
#include "compiler/interp/Slot.h"

namespace xent::interp {

class Memory {
 public:
  explicit Memory(std::span<const Buffer> buffers);
  // Registers one more buffer (a program's shared memory).
  void add(const Buffer& buffer);

  // out[i] = *pointers[i] where mask[i] (or everywhere without a mask), else other[i] (or 0 without `other`).
  // 16-bit floats are widened exactly to fp32.
  void load(const Slot& pointers, const Slot* mask, const Slot* other, Slot& out) const;
  // *pointers[i] = values[i] where mask[i]; values already hold numbers of the pointee type, so narrowing them to
  // 16-bit storage is exact.
  void store(const Slot& pointers, const Slot& values, const Slot* mask) const;
  // out = *pointer, then *pointer += value, in one atomic step (i32 scalars): the programs of a cluster run on threads
  // of their own (Interpreter.h), and the stores each made before it happen before what the others do after theirs.
  void atomic_add(const Slot& pointer, const Slot& value, Slot& out) const;
  // Throws unless every element of `pointers` that `mask` keeps lies, as large as its pointee and aligned, inside a
  // buffer; `access` names it ("load", "store").
  void check(const Slot& pointers, const Slot* mask, const char* access) const;

 private:
  struct Range {
    uint64_t begin, end;
  };
  bool inside_one(uint64_t first, uint64_t last, uint64_t size) const;
  std::string nearest(uint64_t address, uint64_t size) const;

  std::vector<Range> buffers_;
};

}  // namespace xent::interp
