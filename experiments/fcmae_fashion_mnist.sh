#!/usr/bin/env bash
# The FCMAE experiment of EXPERIMENTS.md, end to end on Fashion-MNIST (ConvNeXt V2 paper §3 in small):
#  1. FCMAE-pretrain a small ConvNeXt V2 (GRN) and the same network without GRN (V1 MLP, no layer scale)
#     on the 60,000 training images, labels unused;
#  2. a supervised reference (the V2 network trained on all labels) and the feature distances of
#     random, FCMAE and supervised weights, per layer (SVG + JSON);
#  3. fine-tune both FCMAE encoders on 10% of the labels (the bundled 6,000-image subset, which is part
#     of the training set) and train the same networks from scratch on the same 10%; evaluate all four
#     on the full 10,000-image test set.
# Runs go to runs/fcmae-exp/, figures to docs/experiments/. THREADS=1 runs two jobs side by side on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
V2='{"depths":[1,1,3,1],"dims":[24,48,96,192],"patch_size":1}'
V1='{"depths":[1,1,3,1],"dims":[24,48,96,192],"patch_size":1,"ls_init_value":null}'
R=runs/fcmae-exp
FIG=docs/experiments
PRE_EPOCHS=${PRE_EPOCHS:-8}
FT_EPOCHS=${FT_EPOCHS:-15}
SUP_EPOCHS=${SUP_EPOCHS:-8}
T=${THREADS:-1}
vm() { node bin/visionmix.js "$@"; }
mkdir -p "$R" "$FIG"

pretrain() { # name model config extra…
  local name=$1 model=$2 config=$3; shift 3
  [ -f "$R/$name/model.safetensors" ] || vm pretrain --model "$model" --config "$config" --patch-size 8 --decoder-dim 96 \
    --data fashion-mnist --size 32 --epochs "$PRE_EPOCHS" --batch 128 --lr 1.5e-3 --warmup-epochs 1 --crop-pad 1 \
    --threads "$T" --seed 0 --out "$R/$name" "$@"
}
pretrain fcmae-v2 convnextv2 "$V2" &
pretrain fcmae-v1 convnext "$V1" --no-require-grn &
wait

[ -f "$R/supervised-v2/model.safetensors" ] || vm train --model convnextv2 --config "$V2" --data fashion-mnist --size 32 \
  --epochs "$SUP_EPOCHS" --batch 128 --lr 2e-3 --warmup-epochs 1 --crop-pad 1 --threads "$T" --seed 0 --out "$R/supervised-v2" &

finetune() { # name model config weights
  local name=$1 model=$2 config=$3 weights=$4
  [ -f "$R/$name/model.safetensors" ] || vm finetune --model "$model" --config "$config" --weights "$weights" \
    --data fashion-mnist:bundled --size 32 --epochs "$FT_EPOCHS" --batch 64 --lr 1e-3 --warmup-epochs 1 --crop-pad 1 \
    --layer-decay 0.9 --threads "$T" --seed 0 --out "$R/$name"
}
scratch() { # name model config
  local name=$1 model=$2 config=$3
  [ -f "$R/$name/model.safetensors" ] || vm train --model "$model" --config "$config" \
    --data fashion-mnist:bundled --size 32 --epochs "$FT_EPOCHS" --batch 64 --lr 1e-3 --warmup-epochs 1 --crop-pad 1 \
    --threads "$T" --seed 0 --out "$R/$name"
}
finetune ft10-v2 convnextv2 "$V2" "$R/fcmae-v2"
wait
finetune ft10-v1 convnext "$V1" "$R/fcmae-v1" &
scratch scratch10-v2 convnextv2 "$V2"
wait
scratch scratch10-v1 convnext "$V1"

for run in ft10-v2 ft10-v1 scratch10-v2 scratch10-v1 supervised-v2; do
  echo "$run: $(vm eval --run "$R/$run" --data fashion-mnist --json)"
done | tee "$R/test_accuracy.txt"

V2C='{"depths":[1,1,3,1],"dims":[24,48,96,192],"patch_size":1,"in_chans":1}'
V1C='{"depths":[1,1,3,1],"dims":[24,48,96,192],"patch_size":1,"ls_init_value":null,"in_chans":1}'
vm analyze feature-distance --model convnextv2 --config "$V2C" --size 32 --data fashion-mnist --images 500 \
  --checkpoints "random,$R/fcmae-v2/model.safetensors,$R/supervised-v2/model.safetensors" --labels "random init,FCMAE (GRN),supervised" \
  -o "$FIG/fcmae_feature_distance_v2.svg"
vm analyze feature-distance --model convnext --config "$V1C" --size 32 --data fashion-mnist --images 500 \
  --checkpoints "random,$R/fcmae-v1/model.safetensors" --labels "random init,FCMAE (no GRN)" \
  -o "$FIG/fcmae_feature_distance_v1.svg"
cp "$R/fcmae-v2/reconstructions_epoch$(printf %03d "$PRE_EPOCHS").png" "$FIG/fcmae_reconstructions_v2.png"
cp "$R/fcmae-v1/reconstructions_epoch$(printf %03d "$PRE_EPOCHS").png" "$FIG/fcmae_reconstructions_v1.png"
