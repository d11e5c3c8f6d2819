"""xent.torch against F.cross_entropy in float64 on the same (rounded) inputs, with SPEC.md's tolerances: loss
relative error 1e-5, each gradient element within one ulp of the reference rounded to the gradient's dtype."""

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA GPU visible to PyTorch", allow_module_level=True)

import torch.nn.functional as F  # noqa: E402

import xent.torch as xt  # noqa: E402

if not xt.HAVE_TE_PARALLEL_CE:
    pytest.skip(xt.MISSING_TE_PARALLEL_CE_MSG, allow_module_level=True)

MANTISSA_BITS = {torch.float32: 23, torch.bfloat16: 7, torch.float16: 10}


def make(shape, vocab, dtype=torch.bfloat16, label_dtype=torch.int64, ignore_index=-100, seed=0):
    """Logits (normal, sd 3, rounded to dtype) as a leaf that requires grad, labels with about 1 in 8 ignored."""
    g = torch.Generator(device="cuda").manual_seed(seed)
    logits = (torch.randn(*shape, vocab, generator=g, device="cuda") * 3).to(dtype).requires_grad_()
    labels = torch.randint(0, vocab, shape, generator=g, device="cuda")
    labels[torch.rand(shape, generator=g, device="cuda") < 0.125] = ignore_index
    return logits, labels.to(label_dtype)


def reference(x, y, reduction="mean", label_smoothing=0.0, z_loss=0.0, ignore_index=-100, mask=None, weights=None,
              num_label_tokens=None):
    """SPEC.md's loss in float64 from F.cross_entropy on the rows; the mask ignores rows on a copy of the labels."""
    vocab = x.shape[-1]
    y = y.long() if mask is None else y.long().masked_fill(mask == 0, ignore_index)
    rows_x, rows_y = x.double().reshape(-1, vocab), y.reshape(-1)
    per = F.cross_entropy(rows_x, rows_y, ignore_index=ignore_index, reduction="none",
                          label_smoothing=label_smoothing)
    valid = rows_y != ignore_index
    if z_loss:
        per = per + z_loss * torch.where(valid, torch.logsumexp(rows_x, -1) ** 2, 0.0)
    if weights is not None:
        per = per * weights.double().expand(y.shape).reshape(-1)
    if reduction == "none":
        return per.reshape(y.shape)
    total = per.sum()
    if reduction == "mean":
        return total / valid.sum().clamp_min(1)
    if num_label_tokens is None:
        return total
    return total / num_label_tokens if float(num_label_tokens) else total * 0


def assert_loss(got, want):
    torch.testing.assert_close(got.double(), want.detach().double(), rtol=1e-5, atol=1e-6)


def cancellation_allowance(x64, labels, ref_grad, label_smoothing, ignore_index=-100):
    """1e-6 of the size of the terms each gradient element is formed from, s·(p + ε/V + (1 − ε)·onehot): where p
    and ε/V cancel, fp32 arithmetic is accurate to the terms, not to their difference (the allowance the C++ suites'
    check_against_reference makes too). The row scale s is read off the reference's label element."""
    vocab = x64.shape[-1]
    p = torch.softmax(x64.detach(), -1)
    valid = labels != ignore_index
    y = torch.where(valid, labels, torch.zeros_like(labels)).long()[..., None]
    eps = label_smoothing
    p_y, g_y = p.gather(-1, y)[..., 0], ref_grad.double().gather(-1, y)[..., 0]
    s = torch.where(valid, g_y / (p_y - eps / vocab - (1 - eps)), torch.zeros_like(g_y))
    onehot = torch.zeros_like(p).scatter_(-1, y, 1.0)
    return 1e-6 * s.abs()[..., None] * (p + eps / vocab + (1 - eps) * onehot)


def assert_grad(got, want, ulps=1, allowance=0.0):
    """SPEC.md: fp32 within relative 1e-5; bf16/fp16 each element within `ulps` units in the last place of the
    reference rounded to got's dtype (subnormals: their fixed spacing); plus `allowance` (see cancellation_allowance)."""
    want = want.double()
    if got.dtype == torch.float32:
        allowed = 1e-5 * want.abs() + 1e-30
    else:
        bits = MANTISSA_BITS[got.dtype]
        want = want.to(got.dtype).double()
        _, exponent = torch.frexp(want)
        spacing = torch.finfo(got.dtype).smallest_normal * 2.0 ** -bits
        ulp = torch.ldexp(torch.ones_like(want), exponent - 1 - bits).clamp_min(spacing)
        allowed = ulps * torch.where(want == 0, spacing, ulp)
    excess = (got.double() - want).abs() - allowed - allowance
    assert excess.max().item() <= 0, f"gradient off by more than allowed at flat index {excess.argmax().item()}"


def grads(loss_fn, ref_fn, logits, grad_output):
    """xent's and the reference's loss and logits gradient for the same upstream gradient."""
    x64 = logits.detach().double().requires_grad_()
    loss, ref = loss_fn(logits), ref_fn(x64)
    (grad,) = torch.autograd.grad(loss, logits, grad_output)
    (ref_grad,) = torch.autograd.grad(ref, x64, None if grad_output is None else grad_output.double())
    return loss, ref, grad, ref_grad


def upstream(kind, shape):
    return {"default": None, "scalar": torch.tensor(2.5, device="cuda"),
            "per_token": torch.randn(shape, device="cuda"),
            "expanded": torch.tensor(0.75, device="cuda").expand(shape)}[kind]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16])
@pytest.mark.parametrize("reduction, go", [("mean", "default"), ("mean", "scalar"), ("sum", "default"),
                                           ("none", "per_token"), ("none", "expanded")])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("fused", [False, True])
def test_options_against_pytorch(dtype, reduction, go, label_smoothing, fused):
    logits, labels = make((3, 17), 1000, dtype)
    loss, ref, grad, ref_grad = grads(
        lambda x: xt.cross_entropy(x, labels, reduction=reduction, label_smoothing=label_smoothing, fused=fused),
        lambda x: reference(x, labels, reduction, label_smoothing), logits, upstream(go, labels.shape))
    assert_loss(loss, ref)
    # fused rounds the unit-scale gradient, then torch.mul rounds the scaled one: up to 2 ulp when the scale is not 1
    allowance = cancellation_allowance(logits.double(), labels, ref_grad, label_smoothing)
    assert_grad(grad, ref_grad, ulps=2 if fused and go != "default" else 1, allowance=allowance)


@pytest.mark.parametrize("label_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("ignore_index", [-100, 7])
def test_ignore_index_and_label_types(label_dtype, ignore_index):
    logits, labels = make((64,), 515, label_dtype=label_dtype, ignore_index=ignore_index)
    loss, ref, grad, ref_grad = grads(lambda x: xt.cross_entropy(x, labels, ignore_index=ignore_index),
                                      lambda x: reference(x, labels, ignore_index=ignore_index), logits, None)
    assert_loss(loss, ref)
    assert_grad(grad, ref_grad)


def test_z_loss_and_inplace_backward():
    logits, labels = make((2, 9), 300)
    x64 = logits.detach().double().requires_grad_()
    ref = reference(x64, labels, "sum", z_loss=1e-3)
    (ref_grad,) = torch.autograd.grad(ref, x64)
    values = logits.detach().clone().requires_grad_()
    loss = xt.cross_entropy(values * 1, labels, reduction="sum", z_loss=1e-3, inplace_backward=True)
    (grad,) = torch.autograd.grad(loss, values)
    assert_loss(loss, ref)
    assert_grad(grad, ref_grad)


def test_mask_and_weights_never_modify_labels():
    logits, labels = make((4, 33), 777)
    g = torch.Generator(device="cuda").manual_seed(1)
    mask = torch.rand(labels.shape, generator=g, device="cuda") < 0.7
    weights = torch.rand(labels.shape, generator=g, device="cuda")
    kept = labels.clone()
    module = xt.TEParallelCrossEntropy(reduction="mean", label_smoothing=0.1)
    loss, ref, grad, ref_grad = grads(lambda x: module(x, labels, mask=mask, loss_weights=weights),
                                      lambda x: reference(x, labels, "mean", 0.1, mask=mask, weights=weights),
                                      logits, None)
    assert torch.equal(labels, kept)
    assert_loss(loss, ref)
    assert_grad(grad, ref_grad)


@pytest.mark.parametrize("tokens", [0, 37, "tensor0", "tensor37"])
def test_num_label_tokens(tokens):
    logits, labels = make((2, 20), 400)
    count = int(str(tokens).removeprefix("tensor"))
    given = torch.tensor(count, device="cuda") if str(tokens).startswith("tensor") else count
    module = xt.TEParallelCrossEntropy()  # Automodel's default: reduction "sum"
    loss, ref, grad, ref_grad = grads(lambda x: module(x, labels, num_label_tokens=given),
                                      lambda x: reference(x, labels, "sum", num_label_tokens=count), logits, None)
    assert_loss(loss, ref)
    assert_grad(grad, ref_grad)
    if count == 0:
        assert loss.item() == 0 and not grad.any()


@pytest.mark.parametrize("reduce_loss", [False, True])
def test_strided_views(reduce_loss):
    """logits[:, :-1] against labels[:, 1:], read in place through their strides."""
    logits, tokens = make((3, 12), 640)
    x64 = logits.detach().double().requires_grad_()
    loss = xt.parallel_cross_entropy(logits[:, :-1], tokens[:, 1:], reduce_loss=reduce_loss)
    ref = reference(x64[:, :-1], tokens[:, 1:], "mean" if reduce_loss else "none")
    go = None if reduce_loss else torch.randn(loss.shape, device="cuda")
    (grad,) = torch.autograd.grad(loss, logits, go)
    (ref_grad,) = torch.autograd.grad(ref, x64, None if go is None else go.double())
    assert_loss(loss, ref)
    assert_grad(grad, ref_grad)


def test_non_contiguous_vocab_is_an_error():
    logits, _ = make((8,), 16)
    with pytest.raises(ValueError, match="must be contiguous"):
        xt.cross_entropy(logits.t(), torch.zeros(16, dtype=torch.int64, device="cuda"))


def test_forward_only_leaves_logits_untouched():
    logits, labels = make((5, 7), 123)
    before = logits.detach().clone()
    with torch.no_grad():
        loss = xt.parallel_cross_entropy(logits, labels)
    assert_loss(loss, reference(logits, labels, "none"))
    assert torch.equal(logits.detach(), before)


class NotReady(Exception):
    """A simulated rank reached the all-gather before every rank's partials were recorded."""


class FakeGroup:
    """A tensor-parallel group of simulated ranks run one after another on one GPU. all_gather_into_tensor records
    this rank's slice and fails until every rank has recorded one; run_ranks therefore runs every rank twice."""

    def __init__(self, rank, world, slices):
        self._rank, self._world, self.slices = rank, world, slices

    def rank(self):
        return self._rank

    def size(self):
        return self._world

    def all_gather_into_tensor(self, output, shard):
        self.slices[self._rank] = shard.clone()
        if len(self.slices) < self._world:
            raise NotReady
        output.copy_(torch.cat([self.slices[r] for r in range(self._world)]))


def run_ranks(world, step):
    """step(rank, group) on every simulated rank, after a first pass that records every rank's partials."""
    slices = {}
    for rank in range(world):
        try:
            step(rank, FakeGroup(rank, world, slices))
        except NotReady:
            pass
    return [step(rank, FakeGroup(rank, world, slices)) for rank in range(world)]


@pytest.mark.parametrize("world", [2, 4])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduce_loss", [False, True])
@pytest.mark.parametrize("fused", [False, True])
def test_tensor_parallel_matches_one_gpu(world, label_smoothing, reduce_loss, fused):
    logits, labels = make((2, 15), 256 * world)
    width = logits.shape[-1] // world
    one = xt.parallel_cross_entropy(logits, labels, label_smoothing, reduce_loss)
    go = None if reduce_loss else torch.randn(one.shape, device="cuda")
    (whole,) = torch.autograd.grad(one, logits, go)

    def step(rank, group):
        shard = logits.detach()[..., rank * width:(rank + 1) * width].clone().requires_grad_()
        loss = xt.parallel_cross_entropy(shard, labels, label_smoothing, reduce_loss, group, fused=fused)
        return loss, torch.autograd.grad(loss, shard, go)[0]

    for rank, (loss, grad) in enumerate(run_ranks(world, step)):
        assert_loss(loss, one)
        assert_grad(grad, whole[..., rank * width:(rank + 1) * width], ulps=2 if fused and go is not None else 1)


@pytest.fixture
def one_rank_group(tmp_path):
    dist = pytest.importorskip("torch.distributed")
    try:
        dist.init_process_group("nccl", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    except Exception as e:  # noqa: BLE001 - any failure to form a group is a reason to skip, not a test failure
        pytest.skip(f"cannot initialize a 1-rank process group: {e}")
    yield
    dist.destroy_process_group()


def test_dtensor_on_one_rank(one_rank_group):
    from torch.distributed.tensor import DeviceMesh, Shard, distribute_tensor
    logits, labels = make((2, 11), 500)
    mesh = DeviceMesh("cuda", [0])
    sharded = distribute_tensor(logits.detach(), mesh, [Shard(2)]).requires_grad_()
    loss = xt.TEParallelCrossEntropy(reduction="mean")(sharded, labels)
    loss.backward()
    x64 = logits.detach().double().requires_grad_()
    ref = reference(x64, labels, "mean")
    ref.backward()
    assert_loss(loss, ref)
    assert_grad(sharded.grad.to_local(), x64.grad)


@pytest.mark.parametrize("fused", [False, True])
def test_cuda_graph_capture_and_replay(fused):
    logits, labels = make((4, 32), 2048)
    loss_fn = xt.TEParallelCrossEntropy(reduction="mean", fused=fused)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up: creates the op and loads its kernels before capture
        for _ in range(2):
            logits.grad = None
            loss_fn(logits, labels).backward()
    torch.cuda.current_stream().wait_stream(side)
    logits.grad = None
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_loss = loss_fn(logits, labels)
        static_loss.backward()
    fresh, fresh_labels = make((4, 32), 2048, seed=5)
    with torch.no_grad():
        logits.copy_(fresh)
        labels.copy_(fresh_labels)
    graph.replay()
    torch.cuda.synchronize()
    x64 = fresh.detach().double().requires_grad_()
    ref = reference(x64, fresh_labels, "mean")
    ref.backward()
    assert_loss(static_loss, ref)
    assert_grad(logits.grad, x64.grad)


class TinyLM(torch.nn.Module):
    def __init__(self, vocab, hidden):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, hidden)
        self.head = torch.nn.Linear(hidden, vocab, bias=False)

    def forward(self, tokens):
        return self.head(self.embed(tokens))


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 1e-5), (torch.bfloat16, 2.0 ** -8)])
def test_drop_in_training_steps(dtype, rtol):
    """Five AdamW steps with F.cross_entropy and with xent from the same initial weights and data."""
    vocab, hidden = 1024, 64
    torch.manual_seed(0)
    models = [TinyLM(vocab, hidden).to("cuda", dtype) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    optimizers = [torch.optim.AdamW(m.parameters(), lr=1e-3) for m in models]
    xent_loss = xt.TEParallelCrossEntropy(reduction="mean")
    losses = [lambda x, y: F.cross_entropy(x.reshape(-1, vocab), y.reshape(-1)), xent_loss]
    for step in range(5):
        tokens = torch.randint(0, vocab, (4, 33), device="cuda", generator=torch.Generator("cuda").manual_seed(step))
        values = []
        for model, optimizer, loss_fn in zip(models, optimizers, losses):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(tokens[:, :-1]), tokens[:, 1:])
            loss.backward()
            values.append(loss.detach())
        # PyTorch returns the loss in the logits' dtype; xent's is fp32: compare at PyTorch's precision.
        torch.testing.assert_close(values[1].to(values[0].dtype).float(), values[0].float(), rtol=rtol, atol=0)
        for a, b in zip(models[0].parameters(), models[1].parameters()):
            scale = a.grad.float().abs().max().item()
            torch.testing.assert_close(b.grad.float(), a.grad.float(), rtol=10 * rtol, atol=10 * rtol * scale)
        for optimizer in optimizers:
            optimizer.step()
