#!/usr/bin/env bash
# The fine-tuning experiment of BENCHMARKS.md ("Fine-tuning on image folders"): Fashion-MNIST written
# out as PNG class folders, a small ConvNeXt V2 trained on classes 0-4, then fine-tuned on classes 5-9
# with the ConvNeXt V2 fine-tuning recipe (layer decay 0.9, Mixup/CutMix, RandAugment, erasing), against
# the same network trained from scratch on classes 5-9 for the same number of steps with the same
# augmentation. Every run reads the PNG folders through the worker loader, as a user's dataset would.
# Runs go to runs/transfer/; THREADS=1 (default) lets two jobs share 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
R=runs/transfer
MODEL=convnextv2
CONFIG='{"depths":[1,1,3,1],"dims":[24,48,96,192],"stem_stride":2}'
T=${THREADS:-1}
SOURCE_EPOCHS=${SOURCE_EPOCHS:-6}
TARGET_EPOCHS=${TARGET_EPOCHS:-5}
# 32x32 inputs: no resize at eval (crop-pct 1), and crops of at least 35% of the image when training
# (the recipe's 8% leaves too little of a 28x28 garment).
SIZE=(--size 32 --crop-pct 1 --min-scale 0.35)
vm() { node bin/visionmix.js "$@"; }
mkdir -p "$R/data"

# Classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat) and 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot).
[ -d "$R/data/fm04" ] || node dist/scripts/fashion_mnist_to_folders.js --out "$R/data/fm04" --classes 0,1,2,3,4
[ -d "$R/data/fm59" ] || node dist/scripts/fashion_mnist_to_folders.js --out "$R/data/fm59" --classes 5,6,7,8,9

# Source task. Plain training (no recipe): the point is a backbone that has seen garments.
[ -f "$R/fm04/model.safetensors" ] || vm train --model "$MODEL" --config "$CONFIG" --data "$R/data/fm04" "${SIZE[@]}" \
  --epochs "$SOURCE_EPOCHS" --batch 128 --lr 2e-3 --warmup-epochs 0.5 --threads "$T" --seed 0 --out "$R/fm04"

# Target task, both arms with the same recipe augmentation, Mixup/CutMix, EMA 0.999, steps and batch.
[ -f "$R/fm59-finetune/model.safetensors" ] || vm finetune --model "$MODEL" --config "$CONFIG" --weights "$R/fm04" --data "$R/data/fm59" \
  --recipe convnextv2-ft --lr 1e-3 --epochs "$TARGET_EPOCHS" --batch 128 "${SIZE[@]}" --warmup-epochs 0.5 --ema 0.999 \
  --threads "$T" --seed 0 --out "$R/fm59-finetune" &
[ -f "$R/fm59-scratch/model.safetensors" ] || vm train --model "$MODEL" --config "$CONFIG" --data "$R/data/fm59" \
  --recipe convnext --lr 2e-3 --epochs "$TARGET_EPOCHS" --batch 128 "${SIZE[@]}" --warmup-epochs 0.5 --ema 0.999 \
  --threads "$T" --seed 0 --out "$R/fm59-scratch"
wait
for run in fm04 fm59-finetune fm59-scratch; do
  echo "$run: $(vm eval --run "$R/$run" --json)"
done | tee "$R/test_accuracy.txt"
