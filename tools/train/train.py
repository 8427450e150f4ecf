#!/usr/bin/env python3
"""Trains the small llama-family model shipped as nano-serving's default, and writes it
in Hugging Face layout (config.json, model.safetensors in bf16, generation_config.json,
tokenizer.json, tokenizer_config.json) plus reference.json (logits and a greedy
continuation computed here, for checking the native executor).

    python3 tools/train/train.py --data tools/train/data --tokenizer src/models/default/tokenizer.json \
        --out $OUT --steps 3000

Self-contained: needs PyTorch only. Data: {train,val}.u16 from bpe.py (uint16 token ids,
chapters joined by <|endoftext|>).
"""
import argparse
import json
import math
import os
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = dict(vocab_size=1024, hidden_size=256, intermediate_size=768, num_hidden_layers=6,
              num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=512,
              rms_norm_eps=1e-5, rope_theta=10000.0)
EOT_ID = 1023


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rotate_half(x):
    """HF llama rotary: pairs (i, i + headDim/2)."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(nn.Module):
    def __init__(self, c, dropout: float):
        super().__init__()
        self.nh, self.nkv = c['num_attention_heads'], c['num_key_value_heads']
        self.hd = c['hidden_size'] // self.nh
        h = c['hidden_size']
        self.q_proj = nn.Linear(h, self.nh * self.hd, bias=False)
        self.k_proj = nn.Linear(h, self.nkv * self.hd, bias=False)
        self.v_proj = nn.Linear(h, self.nkv * self.hd, bias=False)
        self.o_proj = nn.Linear(self.nh * self.hd, h, bias=False)
        self.dropout = dropout

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hd).transpose(1, 2)
        cos, sin = cos.to(q.dtype), sin.to(q.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.nh // self.nkv
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        h, f = c['hidden_size'], c['intermediate_size']
        self.gate_proj = nn.Linear(h, f, bias=False)
        self.up_proj = nn.Linear(h, f, bias=False)
        self.down_proj = nn.Linear(f, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c, dropout: float):
        super().__init__()
        self.input_layernorm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])
        self.self_attn = Attention(c, dropout)
        self.post_attention_layernorm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])
        self.mlp = MLP(c)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, cos, sin):
        x = x + self.drop(self.self_attn(self.input_layernorm(x), cos, sin))
        return x + self.drop(self.mlp(self.post_attention_layernorm(x)))


class Llama(nn.Module):
    def __init__(self, c, dropout: float):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c['vocab_size'], c['hidden_size'])
        self.layers = nn.ModuleList(Layer(c, dropout) for _ in range(c['num_hidden_layers']))
        self.norm = RMSNorm(c['hidden_size'], c['rms_norm_eps'])
        hd = c['hidden_size'] // c['num_attention_heads']
        inv = 1.0 / (c['rope_theta'] ** (torch.arange(0, hd, 2).float() / hd))
        ang = torch.outer(torch.arange(c['max_position_embeddings']).float(), inv)
        ang = torch.cat((ang, ang), dim=-1)
        self.register_buffer('cos', ang.cos(), persistent=False)
        self.register_buffer('sin', ang.sin(), persistent=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
        for layer in self.layers:  # scaled init of the residual projections
            for w in (layer.self_attn.o_proj.weight, layer.mlp.down_proj.weight):
                nn.init.normal_(w, std=0.02 / math.sqrt(2 * c['num_hidden_layers']))

    def forward(self, ids):
        T = ids.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return F.linear(self.norm(x), self.embed_tokens.weight)  # tied output


def load_ids(path: str) -> torch.Tensor:
    with open(path, 'rb') as f:
        raw = bytearray(f.read())
    return torch.frombuffer(raw, dtype=torch.int16).to(torch.long)  # ids < 32768


@torch.no_grad()
def evaluate(model, val: torch.Tensor, ctx: int, autocast: bool) -> float:
    model.eval()
    n = (len(val) - 1) // ctx
    x = val[: n * ctx].view(n, ctx).cuda()
    y = val[1: n * ctx + 1].view(n, ctx).cuda()
    with torch.autocast('cuda', dtype=torch.bfloat16, enabled=autocast):
        loss = F.cross_entropy(model(x).float().view(-1, model.c['vocab_size']), y.view(-1))
    model.train()
    return loss.item()


def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def hf_state(model) -> dict[str, torch.Tensor]:
    out = {'model.embed_tokens.weight': model.embed_tokens.weight, 'model.norm.weight': model.norm.weight}
    for i, layer in enumerate(model.layers):
        for name, p in layer.named_parameters():
            out[f'model.layers.{i}.{name}'] = p
    return {k: v.detach().to(torch.bfloat16).cpu().contiguous() for k, v in out.items()}


def write_safetensors(path: str, tensors: dict[str, torch.Tensor]) -> None:
    """8-byte little-endian header length, JSON header (space-padded to 8 bytes), raw data."""
    header, blobs, offset = {'__metadata__': {'format': 'pt'}}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        blob = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {'dtype': 'BF16', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_hf(out: str, model, tokenizer_path: str) -> None:
    c = model.c
    config = {'architectures': ['LlamaForCausalLM'], 'model_type': 'llama', **c,
              'head_dim': c['hidden_size'] // c['num_attention_heads'], 'hidden_act': 'silu',
              'attention_bias': False, 'attention_dropout': 0.0, 'mlp_bias': False,
              'tie_word_embeddings': True, 'bos_token_id': EOT_ID, 'eos_token_id': EOT_ID,
              'initializer_range': 0.02, 'rope_scaling': None, 'torch_dtype': 'bfloat16', 'use_cache': True}
    special = {'content': '<|endoftext|>', 'lstrip': False, 'normalized': False, 'rstrip': False,
               'single_word': False, 'special': True}
    tok_config = {'tokenizer_class': 'PreTrainedTokenizerFast', 'bos_token': '<|endoftext|>',
                  'eos_token': '<|endoftext|>', 'unk_token': None, 'add_bos_token': False,
                  'add_prefix_space': False, 'clean_up_tokenization_spaces': False,
                  'model_max_length': c['max_position_embeddings'],
                  'added_tokens_decoder': {str(EOT_ID): special}}
    gen = {'bos_token_id': EOT_ID, 'eos_token_id': EOT_ID, 'do_sample': False}
    for name, obj in (('config.json', config), ('tokenizer_config.json', tok_config),
                      ('generation_config.json', gen)):
        with open(os.path.join(out, name), 'w') as f:
            json.dump(obj, f, indent=2)
            f.write('\n')
    with open(tokenizer_path, 'rb') as src, open(os.path.join(out, 'tokenizer.json'), 'wb') as dst:
        dst.write(src.read())
    write_safetensors(os.path.join(out, 'model.safetensors'), hf_state(model))


@torch.no_grad()
def reference(model, val: torch.Tensor, ctx: int) -> dict:
    """f32 compute over the bf16-rounded weights: what the native executor should reproduce."""
    model.eval()
    ids = val[:256].cuda()
    logits = model(ids[None])[0].float()
    nll = F.cross_entropy(logits[:-1], ids[1:], reduction='none')
    prompt = val[:16].tolist()
    seq = list(prompt)
    for _ in range(48):
        seq.append(int(model(torch.tensor([seq], device='cuda'))[0, -1].argmax()))
    top = logits[15].topk(5)
    return {'ids': ids.tolist(), 'meanNll': nll.mean().item(), 'perplexity': math.exp(nll.mean().item()),
            'prompt': prompt, 'greedy': seq[len(prompt):],
            'lastPromptTop5': {'ids': top.indices.tolist(), 'logits': top.values.tolist()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--data', required=True)
    ap.add_argument('--tokenizer', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--steps', type=int, default=3000)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--dropout', type=float, default=0.1)
    ap.add_argument('--eval-every', type=int, default=100)
    ap.add_argument('--seed', type=int, default=1234)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.backends.cuda.matmul.allow_tf32 = True
    train = load_ids(os.path.join(args.data, 'train.u16')).cuda()
    val = load_ids(os.path.join(args.data, 'val.u16'))
    ctx = CONFIG['max_position_embeddings']
    model = Llama(CONFIG, args.dropout).cuda()
    print(f'params {sum(p.numel() for p in model.parameters())}, train {len(train)} tokens, val {len(val)}')
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': 0.1}, {'params': no_decay, 'weight_decay': 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), fused=True)
    gen = torch.Generator(device='cuda').manual_seed(args.seed)
    best, best_state, t0 = float('inf'), None, time.time()
    for step in range(args.steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, args.steps, args.lr, warmup=100)
        starts = torch.randint(0, len(train) - ctx - 1, (args.batch,), device='cuda', generator=gen)
        idx = starts[:, None] + torch.arange(ctx + 1, device='cuda')
        batch = train[idx]
        with torch.autocast('cuda', dtype=torch.bfloat16):
            logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.float().view(-1, CONFIG['vocab_size']), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            v = evaluate(model, val, ctx, autocast=True)
            if v < best:
                best, best_state = v, {k: t.detach().clone() for k, t in model.state_dict().items()}
            print(f'step {step + 1} train {loss.item():.4f} val {v:.4f} best {best:.4f} '
                  f'{time.time() - t0:.0f}s', flush=True)
    model.load_state_dict(best_state)
    # Round to bf16 (what ships) and measure again in f32 compute.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    v16 = evaluate(model, val, ctx, autocast=False)
    print(f'best val {best:.4f}; with bf16 weights, f32 compute: {v16:.4f} (ppl {math.exp(v16):.2f}); '
          f'{time.time() - t0:.0f}s total')
    os.makedirs(args.out, exist_ok=True)
    write_hf(args.out, model, args.tokenizer)
    ref = reference(model, val, ctx)
    ref['valLoss'] = v16
    with open(os.path.join(args.out, 'reference.json'), 'w') as f:
        json.dump(ref, f)
    print(f"reference: ppl on val[:256] {ref['perplexity']:.3f}; greedy {ref['greedy'][:12]}...")


if __name__ == '__main__':
    main()
