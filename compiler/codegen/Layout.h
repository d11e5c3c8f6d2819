// Layout assignment: how the elements of every tile value spread over the threads of a program.
//
// A program runs T threads (the kernel attribute "threads", default 128; a multiple of 32, at most 1024). A tile of
// n elements (a 2-D tile [R, C] is numbered row-major, e = r * C + c) is cut into chunks of w contiguous elements,
// dealt to the threads round-robin:
//
//   element e is held by thread (e / w) % T, in register slot (e / (T * w)) * w + e % w;
//   every thread holds slots = ceil(n / (T * w)) * w registers, the same number for all threads.
//
// Slots whose element is >= n are out of the tile: loads and stores skip them and reductions ignore them. That is
// what makes tiles of any extent (V = 50257) correct; only the last round of chunks can hold such slots.
//
// The vector width w exists for memory: a thread's chunk of w elements is one 16-byte access when the addresses are
// contiguous and aligned. Values joined by elementwise operations (including addptr, load, store, select, and the
// values carried through `for` and `if`) must share one layout, so w is chosen per such group of tiles: the widest
// access width proven for any pointer tile of the group (1 when there is none). Reduce and broadcast are the only
// operations whose result may have another layout than their operand; the lowering moves data between the two,
// through shared memory unless no data has to move: when every row of a 2-D [R, C] tile is one chunk (w = C) and the
// 1-D [R] side has w = 1, row r and element r sit in the same thread, so a reduction along the rows and a broadcast
// back along them stay in registers (how the row kernels fold 16-byte lanes).
//
// A pointer tile's access width is the largest power of two a <= w, a * sizeof(pointee) <= 16, for which every run of
// a elements starting at a multiple of a has contiguous addresses aligned to a * sizeof(pointee). It is proven by a
// divisibility analysis in the style of Triton's AxisInfo, tracking for integer and pointer values:
//   - divisibility: the power of two dividing a scalar (constants exactly, products multiply, sums take the minimum;
//     a pointer parameter's ParamInfo.align in bytes, and an integer parameter's ParamInfo.align read as "a multiple
//     of"; other values 1), or for a tile the first element of each contiguous run;
//   - contiguity: tiles whose runs of that length hold consecutive integers (arange, plus a constant-in-the-run tile);
//   - constancy: tiles whose runs of that length hold equal values (splat, broadcast along rows).
// Anything not proven (a gather, a loop-carried pointer) gets access width 1: correct, just not vectorized.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/ir/IR.h"

namespace xent::codegen {

struct Layout {
  std::vector<int64_t> shape;
  int64_t elements = 0;  // n: the product of the shape
  int threads = 0;       // T
  int vector = 1;        // w: contiguous elements per thread and chunk
  int slots = 0;         // registers per thread: ceil(n / (T * w)) * w
  int access = 0;        // pointer tiles: elements per memory access (1..w); 0 for other tiles

  int chunks() const { return slots / vector; }
  // The flat element in `slot` of `thread`; >= elements when that slot is out of the tile.
  int64_t element(int thread, int slot) const;
  int thread_of(int64_t element) const;
  int slot_of(int64_t element) const;
  // The element of `slot` is `slot_base(slot) + thread * vector`.
  int64_t slot_base(int slot) const;
  // True when `slot` is inside the tile for every thread (it needs no runtime check).
  bool always_in_tile(int slot) const;
  std::string str() const;
  bool operator==(const Layout&) const = default;
};

class LayoutMap {
 public:
  int threads() const { return threads_; }
  // The layout of a tile value; InternalError when `value` is not a tile of the kernel.
  const Layout& at(const ir::Value* value) const;
  bool contains(const ir::Value* value) const { return layouts_.count(value) != 0; }
  // One line per tile-valued operation result, in program order: "load bf16[50257]: T=128 w=8 slots=400 access=8".
  std::string str(const ir::Kernel& kernel) const;

 private:
  friend LayoutMap assign_layouts(const ir::Kernel& kernel);
  int threads_ = 0;
  std::unordered_map<const ir::Value*, Layout> layouts_;
};

// Reads the kernel's "threads" attribute (a UserError when it is not a multiple of 32 in [32, 1024]) and assigns a
// layout to every tile value of the kernel, kernel parameters and region arguments included.
LayoutMap assign_layouts(const ir::Kernel& kernel);

}  // namespace xent::codegen
