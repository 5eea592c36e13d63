return function(rec, ctx)
  ctx.seen_here = (ctx.seen_here or 0) + 1
  rec.asset = ctx.asset
  rec.tags[#rec.tags + 1] = ("%s-%d"):format(rec.name, #rec.tags)
  return rec
end
