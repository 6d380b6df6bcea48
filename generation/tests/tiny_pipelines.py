"""Tiny randomly-initialised video pipelines of today's model families, built from configs.

The component configs are the tiny ones diffusers' own fast tests use; the text
encoders' tokenizers (which those tests download) are built here from a
character vocabulary, so nothing is downloaded. Each is saved with
save_pretrained and loaded back through the backend's real path.
"""

from __future__ import annotations

import json
from pathlib import Path


def _bytes_to_unicode() -> dict[int, str]:
    # The byte -> printable character table of byte-level BPE (GPT-2, CLIP).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs)))


def write_clip_tokenizer_files(folder: Path) -> None:
    """A CLIP BPE vocabulary of single bytes (plus one merge), so any prompt tokenizes."""
    chars = list(_bytes_to_unicode().values())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for ch in chars:
            vocab[ch + suffix] = len(vocab)
    vocab["at</w>"] = len(vocab)
    folder.mkdir(parents=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\na t</w>\n", encoding="utf-8")


def char_tokenizer():
    """A T5-style fast tokenizer over single characters: pad 0, eos 1, unk 2."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for code in range(32, 127):
        vocab.setdefault(chr(code), len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)


def _t5(tokenizer, d_model: int = 32):
    import torch
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(0)
    return T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=d_model, d_ff=37, d_kv=8, num_layers=2,
                                   num_heads=4, relative_attention_num_buckets=8))


def _wan_transformer(in_channels: int, out_channels: int):
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                                 in_channels=in_channels, out_channels=out_channels, text_dim=32, freq_dim=256,
                                 ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                                 rope_max_seq_len=32)


def _wan_vae(**overrides):
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    return AutoencoderKLWan(**{"base_dim": 3, "z_dim": 16, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1,
                               "temperal_downsample": [False, True, True], **overrides})


def wan21(folder: Path) -> None:
    """Wan 2.1 text-to-video (WanPipeline, one transformer)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline

    tokenizer = char_tokenizer()
    WanPipeline(transformer=_wan_transformer(16, 16), vae=_wan_vae(),
                scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), text_encoder=_t5(tokenizer),
                tokenizer=tokenizer).save_pretrained(str(folder))


def wan22_5b(folder: Path) -> None:
    """Wan 2.2 TI2V-5B: the 16x VAE (48 latent channels), expand_timesteps; images through from_pipe."""
    from diffusers import UniPCMultistepScheduler, WanPipeline

    tokenizer = char_tokenizer()
    vae = _wan_vae(z_dim=48, in_channels=12, out_channels=12, is_residual=True, patch_size=2,
                   latents_mean=[0.0] * 48, latents_std=[1.0] * 48, scale_factor_spatial=16, scale_factor_temporal=4)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    WanPipeline(transformer=_wan_transformer(48, 48), vae=vae, scheduler=scheduler, text_encoder=_t5(tokenizer),
                tokenizer=tokenizer, expand_timesteps=True).save_pretrained(str(folder))


def wan22_i2v(folder: Path) -> None:
    """Wan 2.2 I2V-A14B: image only, a high-noise and a low-noise transformer."""
    from diffusers import UniPCMultistepScheduler, WanImageToVideoPipeline

    tokenizer = char_tokenizer()
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    WanImageToVideoPipeline(transformer=_wan_transformer(36, 16), transformer_2=_wan_transformer(36, 16),
                            vae=_wan_vae(), scheduler=scheduler, text_encoder=_t5(tokenizer), tokenizer=tokenizer,
                            image_encoder=None, image_processor=None,
                            boundary_ratio=0.875).save_pretrained(str(folder))


def ltx(folder: Path) -> None:
    """LTX-Video text-to-video; image jobs through LTXImageToVideoPipeline.from_pipe. The decoder is made
    tiny too (its defaults are the full-size widths, minutes per clip on a CPU)."""
    import torch
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel

    tokenizer = char_tokenizer()
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1,
                                             num_attention_heads=4, attention_head_dim=8, cross_attention_dim=32,
                                             num_layers=1, caption_channels=32)
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(latent_channels=8, block_out_channels=(8, 8, 8, 8),
                                spatio_temporal_scaling=(True, True, False, False), layers_per_block=(1, 1, 1, 1, 1),
                                decoder_block_out_channels=(8, 8, 8, 8), decoder_layers_per_block=(1, 1, 1, 1, 1),
                                decoder_spatio_temporal_scaling=(True, True, False, False),
                                patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False)
    LTXPipeline(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
                text_encoder=_t5(tokenizer), tokenizer=tokenizer).save_pretrained(str(folder))


def cogvideox(folder: Path) -> None:
    """CogVideoX 1.0 text-to-video: trained at one size (here 32x16, from sample_width/height)."""
    import torch
    from diffusers import AutoencoderKLCogVideoX, CogVideoXPipeline, CogVideoXTransformer3DModel, DDIMScheduler

    tokenizer = char_tokenizer()
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(num_attention_heads=4, attention_head_dim=8, in_channels=4,
                                              out_channels=4, time_embed_dim=2, text_embed_dim=32, num_layers=1,
                                              sample_width=4, sample_height=2, sample_frames=9, patch_size=2,
                                              temporal_compression_ratio=4, max_text_seq_length=16)
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
                                 up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8),
                                 latent_channels=4, layers_per_block=1, norm_num_groups=2,
                                 temporal_compression_ratio=4)
    CogVideoXPipeline(transformer=transformer, vae=vae, scheduler=DDIMScheduler(), text_encoder=_t5(tokenizer),
                      tokenizer=tokenizer).save_pretrained(str(folder))


BUILDERS = {"wan21": wan21, "wan22_5b": wan22_5b, "wan22_i2v": wan22_i2v, "ltx": ltx, "cogvideox": cogvideox}
