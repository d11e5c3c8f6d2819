#include "compiler/interp/Memory.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

#include "compiler/ir/Semantics.h"

namespace xent::interp {
namespace {

using ir::ScalarType;

// How one pointee type is kept in memory (Stored) and in a slot (Host).
template <class T>
struct Plain {
  using Stored = T;
  using Host = T;
  static T decode(T v) { return v; }
  static T encode(T v) { return v; }
};

struct BF16 {
  using Stored = uint16_t;
  using Host = float;
  static float decode(uint16_t bits) { return ir::bf16_bits_to_float(bits); }
  static uint16_t encode(float v) { return ir::float_to_bf16_bits(v); }
};

struct F16 {
  using Stored = uint16_t;
  using Host = float;
  static float decode(uint16_t bits) { return ir::f16_bits_to_float(bits); }
  static uint16_t encode(float v) { return ir::float_to_f16_bits(v); }
};

template <class F>
void with_codec(ScalarType pointee, F&& f) {
  switch (pointee) {
    case ScalarType::I32: return f(Plain<int32_t>{});
    case ScalarType::I64: return f(Plain<int64_t>{});
    case ScalarType::F32: return f(Plain<float>{});
    case ScalarType::BF16: return f(BF16{});
    case ScalarType::F16: return f(F16{});
    default: throw InternalError(cat("memory access to ", ir::to_string(pointee), " elements"));
  }
}

void* host_address(uint64_t address) { return reinterpret_cast<void*>(static_cast<uintptr_t>(address)); }

std::string hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%" PRIx64, value);
  return text;
}

}  // namespace

Memory::Memory(std::span<const Buffer> buffers) {
  for (const Buffer& b : buffers) add(b);
}

void Memory::add(const Buffer& b) {
  auto begin = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(b.data));
  buffers_.push_back({begin, begin + b.bytes});
}

bool Memory::inside_one(uint64_t first, uint64_t last, uint64_t size) const {
  return std::any_of(buffers_.begin(), buffers_.end(),
                     [&](const Range& b) { return b.begin <= first && last < b.end && b.end - last >= size; });
}

std::string Memory::nearest(uint64_t address, uint64_t size) const {
  if (buffers_.empty()) return "no buffer is registered";
  auto gap = [&](const Range& b) -> uint64_t {
    if (address < b.begin) return b.begin - address;
    return address >= b.end ? address - b.end : 0;
  };
  auto best = std::min_element(buffers_.begin(), buffers_.end(),
                               [&](const Range& x, const Range& y) { return gap(x) < gap(y); });
  std::string where;
  if (address < best->begin)
    where = cat("starts ", best->begin - address, " bytes before it");
  else if (address >= best->end)
    where = cat("starts ", address - best->end, " bytes past its end");
  else
    where = cat("runs past its end");
  return cat("the nearest buffer is #", best - buffers_.begin(), " [", hex(best->begin), ", ", hex(best->end), ") (",
             best->end - best->begin, " bytes) and the access ", where);
}

void Memory::check(const Slot& pointers, const Slot* mask, const char* access) const {
  const uint64_t* p = pointers.data<uint64_t>();
  const uint8_t* m = mask ? mask->data<uint8_t>() : nullptr;
  int64_t n = pointers.size();
  ScalarType pointee = pointers.type().pointee();
  uint64_t size = ir::bit_width(pointee) / 8;
  // One pass over the addresses settles the common case: every element inside one buffer and aligned.
  uint64_t first = std::numeric_limits<uint64_t>::max(), last = 0, bits = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (m && !m[i]) continue;
    first = std::min(first, p[i]);
    last = std::max(last, p[i]);
    bits |= p[i];
  }
  if (first > last || ((bits & (size - 1)) == 0 && inside_one(first, last, size))) return;
  for (int64_t i = 0; i < n; ++i) {
    bool aligned = p[i] % size == 0;
    if ((m && !m[i]) || (aligned && inside_one(p[i], p[i], size))) continue;
    std::string what = cat(pointers.type().is_tile() ? cat("element ", i, ": ") : "", access, " of ",
                           ir::to_string(pointee), " at ", hex(p[i]));
    if (!aligned) throw UserError(cat(what, " is not aligned to ", size, " bytes"));
    throw UserError(cat(what, " is outside every registered buffer; ", nearest(p[i], size)));
  }
  // Every element is fine on its own: the tile spans several buffers.
}

void Memory::load(const Slot& pointers, const Slot* mask, const Slot* other, Slot& out) const {
  check(pointers, mask, "load");
  with_codec(pointers.type().pointee(), [&]<class C>(C) {
    using Host = typename C::Host;
    const uint64_t* p = pointers.data<uint64_t>();
    const uint8_t* m = mask ? mask->data<uint8_t>() : nullptr;
    const Host* fill = other ? other->data<Host>() : nullptr;
    Host* o = out.data<Host>();
    for (int64_t i = 0, n = out.size(); i < n; ++i) {
      if (m && !m[i]) {
        o[i] = fill ? fill[i] : Host{};
        continue;
      }
      typename C::Stored raw;
      std::memcpy(&raw, host_address(p[i]), sizeof raw);
      o[i] = C::decode(raw);
    }
  });
}

void Memory::store(const Slot& pointers, const Slot& values, const Slot* mask) const {
  check(pointers, mask, "store");
  with_codec(pointers.type().pointee(), [&]<class C>(C) {
    const uint64_t* p = pointers.data<uint64_t>();
    const uint8_t* m = mask ? mask->data<uint8_t>() : nullptr;
    const auto* v = values.data<typename C::Host>();
    for (int64_t i = 0, n = values.size(); i < n; ++i) {
      if (m && !m[i]) continue;
      typename C::Stored raw = C::encode(v[i]);
      std::memcpy(host_address(p[i]), &raw, sizeof raw);
    }
  });
}

void Memory::atomic_add(const Slot& pointer, const Slot& value, Slot& out) const {
  check(pointer, nullptr, "atomic_add");
  std::atomic_ref<int32_t> counter(*static_cast<int32_t*>(host_address(pointer.data<uint64_t>()[0])));
  out.data<int32_t>()[0] = counter.fetch_add(value.data<int32_t>()[0], std::memory_order_acq_rel);
}

}  // namespace xent::interp
