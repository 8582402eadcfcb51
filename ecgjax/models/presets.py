"""Named ResNet1D shapes (resnet1d.ResNet1DConfig fields, less `dtype`), chosen in a
config as `model_config(NAME)` (configs/common.py). `small` suits 100 Hz inputs on a
CPU; the others follow published ECG networks at 400-500 Hz."""

PRESETS = {
    "small": dict(stem_width=32, stage_widths=(32, 64, 128, 128), blocks_per_stage=(1, 1, 1, 1),
                  stage_strides=(1, 2, 2, 2), kernel_size=9, stem_stride=2, dropout=0.1),
    # Ribeiro et al. 2020: 4 residual blocks, kernel 16, 64-320 channels, /4 per block.
    "ribeiro2020": dict(stem_width=64, stage_widths=(128, 196, 256, 320),
                        blocks_per_stage=(1, 1, 1, 1), stage_strides=(4, 4, 4, 4),
                        kernel_size=16, stem_stride=1, dropout=0.2),
    # The PTB-XL benchmark's xresnet1d101 (Strodthoff et al. 2021), as near as this
    # family goes: its deep stem (32, 32, 64; kernel 5; stride 2; max-pool), its stage
    # depths (3, 4, 23, 3) and strides (1, 2, 2, 2), kernel 5, but basic pre-activation
    # blocks 64 wide instead of bottlenecks 64 -> 256, and mean pooling into one linear
    # layer instead of concat pooling into a 128-unit head (configs/ptbxl_benchmark.py).
    "xresnet1d101_like": dict(stem_width=32, stem_extra_widths=(32, 64), stem_pool=True,
                              stage_widths=(64, 64, 64, 64), blocks_per_stage=(3, 4, 23, 3),
                              stage_strides=(1, 2, 2, 2), kernel_size=5, stem_stride=2,
                              dropout=0.0),
    # Hannun et al. 2019: 16 residual blocks, kernel 16, 32-256 channels.
    "hannun2019": dict(stem_width=32, stage_widths=(32, 64, 128, 256),
                       blocks_per_stage=(4, 4, 4, 4), stage_strides=(2, 2, 2, 2),
                       kernel_size=16, stem_stride=1, dropout=0.2),
}
