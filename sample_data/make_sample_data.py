#!/usr/bin/env python3
"""Generate the sftmask sample data set.

Writes instructions.jsonl and instructions.csv next to this script.
Deterministic and standard-library only: running it twice yields
byte-identical files.
"""

import csv
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
N_RECORDS = 300
SEED = 20240611

BASE = []  # list of dicts: cat, lang, prompt, response


def add(cat, lang, prompt, response):
    BASE.append({"cat": cat, "lang": lang, "prompt": prompt, "response": response})


# ---------------------------------------------------------------------------
# General instructions and explanations
# ---------------------------------------------------------------------------

add("general", "en", "Why is the sky blue?", """\
The sky looks blue because of a process called Rayleigh scattering. Sunlight contains all visible wavelengths, but when it passes through the atmosphere it bumps into nitrogen and oxygen molecules that are much smaller than the wavelength of light. Those molecules scatter short wavelengths (blue and violet) far more strongly than long ones (red and orange) — the effect scales roughly with 1/λ⁴.

So blue light gets bounced around the whole sky and reaches your eyes from every direction. Violet is scattered even more, but the Sun emits less of it, some is absorbed high in the atmosphere, and our eyes are less sensitive to it, so the overall impression is blue.

At sunrise and sunset the light travels through much more air, most of the blue is scattered out along the way, and the remaining reds and oranges dominate.""")

add("general", "en", "Explain photosynthesis to a 10-year-old.", """\
Plants are like tiny food factories. They take in three things:

- sunlight, which they catch with their green leaves,
- water, which they suck up through their roots,
- carbon dioxide, a gas in the air that they breathe in through little holes in their leaves.

Inside the leaves there's a green stuff called chlorophyll. It uses the energy from sunlight to mix the water and carbon dioxide together and turn them into sugar. The plant uses that sugar as food to grow.

And here's the cool part: while making its food, the plant lets out oxygen — the gas we need to breathe. So every time you see a tree, it's quietly making air for you! 🌳""")

add("general", "en", "What caused the fall of the Western Roman Empire?", """\
Historians don't point to a single cause; the collapse in 476 CE was the result of several pressures that built up over centuries:

1. **Political instability.** In the third century alone there were more than twenty emperors, many of them murdered. Constant civil war drained money and soldiers.
2. **Economic trouble.** Heavy taxation, debased coinage, and inflation weakened trade and pushed small farmers off their land.
3. **Military overstretch.** The frontier was enormous, and Rome increasingly relied on Germanic mercenaries whose loyalty was uncertain.
4. **Pressure from migrating peoples.** The Huns pushed Goths, Vandals and others into Roman territory. Rome was sacked by the Visigoths in 410 and by the Vandals in 455.
5. **Division of the empire.** After 395 the East and West were governed separately. The richer Eastern half (Byzantium) survived for another thousand years, while the West fragmented.

The traditional end date is 476, when the Germanic leader Odoacer deposed the last western emperor, Romulus Augustulus — though for most people living at the time, daily life changed only gradually.""")

add("general", "en", "How do I make a basic vinaigrette?", """\
A classic vinaigrette is just a 3:1 ratio of oil to acid, plus seasoning.

For one small jar:

- 3 tablespoons extra-virgin olive oil
- 1 tablespoon red wine vinegar (or lemon juice)
- 1 teaspoon Dijon mustard
- a pinch of salt and some freshly ground black pepper
- optional: ½ teaspoon honey, a finely minced shallot or garlic clove

Whisk the vinegar, mustard, salt and pepper first, then drizzle in the oil while whisking so it emulsifies. Or just put everything in a jar with a lid and shake hard for 20 seconds. Taste on a lettuce leaf and adjust — more acid if it tastes flat, more oil if it's too sharp. It keeps in the fridge for about a week; let it come to room temperature and shake again before using.""")

add("general", "en", "I'm visiting Lisbon for three days in October. What should I not miss?", """\
October is a lovely time for Lisbon — still warm, fewer crowds. A rough plan:

**Day 1 – Alfama and the castle**
Wander the narrow streets of Alfama in the morning, climb up to Castelo de São Jorge for the views, and stop at the Miradouro de Santa Luzia. In the evening, book a small fado house in Alfama for dinner.

**Day 2 – Belém**
Take tram 15 or a train to Belém. See the Jerónimos Monastery, the Belém Tower and the Monument to the Discoveries, and queue for a pastel de nata at Pastéis de Belém (the line moves fast). MAAT, the modern art museum on the river, is worth an hour.

**Day 3 – Baixa, Chiado and Bairro Alto**
Start at Praça do Comércio, walk up Rua Augusta, ride the Santa Justa lift or just walk up to Chiado. Have lunch at the Time Out Market, then spend the evening in Bairro Alto, where the bars spill onto the street.

If you have an extra half day, Sintra is 40 minutes away by train and is spectacular. Bring comfortable shoes — Lisbon is all hills and slippery cobblestones.""")

add("general", "en", """\
Summarise the following paragraph in one sentence:

The honeybee is one of the most important pollinators in the world. As bees move from flower to flower collecting nectar, pollen sticks to the hairs on their bodies and is transferred between plants, allowing them to reproduce. It is estimated that roughly a third of the food we eat depends on pollination by insects, with bees doing the majority of the work. However, bee populations have declined in many regions over the past few decades due to pesticides, habitat loss, parasites such as the varroa mite, and climate change.""", """\
Honeybees pollinate a large share of the crops we depend on for food, but their numbers are falling because of pesticides, habitat loss, parasites and climate change.""")

add("general", "en", """\
Rewrite this email to sound more professional:

hey mark, just wanted to let u know the report isnt gonna be ready by friday, the data from the sales team came in late and its kind of a mess. prob monday? sorry!! let me know if thats a problem""", """\
Hi Mark,

I wanted to give you a heads-up that the report will not be ready by Friday as planned. The sales data arrived later than expected and needs some additional cleaning before I can finalise the analysis.

I expect to have the completed report to you by Monday. Please let me know if this timeline causes any issues, and I'll do my best to accommodate.

Apologies for the delay, and thank you for your understanding.

Best regards,
[Your name]""")

add("general", "en", "What's the difference between weather and climate?", """\
Weather is what the atmosphere is doing right now or over the next few days: today's temperature, whether it's raining, how windy it is. Climate is the long-term pattern of weather in a place, usually averaged over 30 years or more.

A simple way to remember it: weather is your mood, climate is your personality. A single cold week in July doesn't mean the climate is cooling, just as one warm day in January doesn't prove it's warming — climate trends only show up when you look at decades of data.""")

add("general", "en", "Who was Ada Lovelace?", """\
Ada Lovelace (1815–1852) was an English mathematician and writer, the daughter of the poet Lord Byron. She is best known for her work on Charles Babbage's proposed Analytical Engine, a mechanical general-purpose computer that was never fully built.

In 1843 she translated an Italian article about the engine and added her own extensive "Notes", which were longer than the original. Note G contains a step-by-step method for computing Bernoulli numbers on the machine, which is often described as the first published computer program. She also speculated that such a machine could manipulate symbols other than numbers — for example, composing music — an idea that was remarkably ahead of its time.

The programming language Ada is named after her, and Ada Lovelace Day (the second Tuesday of October) celebrates women in science and technology.""")

add("general", "en", "Give me a good title for a blog post about learning to bake sourdough at home.", """\
Here are a few options, depending on the tone you want:

- "Flour, Water, Patience: My First Year of Sourdough"
- "I Killed Three Starters So You Don't Have To"
- "The Beginner's Honest Guide to Home Sourdough"
- "From Brick to Boule: Learning Sourdough the Hard Way"

If you want something search-friendly, go with "Sourdough for Beginners: What I Wish I'd Known"; if it's a personal story, the second one has the most personality.""")

add("general", "en", "Explain what inflation is and why central banks raise interest rates to fight it.", """\
Inflation is the general rise in prices across an economy over time, which means each unit of money buys a little less than before. A bit of inflation (central banks often target about 2% per year) is considered healthy, but high inflation erodes savings and makes planning difficult.

Central banks raise interest rates because borrowing then becomes more expensive and saving becomes more attractive. Households take out fewer mortgages and car loans, businesses postpone investments, and people spend a bit less. Lower demand for goods and services eases the upward pressure on prices.

The trade-off is that higher rates also slow economic growth and can increase unemployment, so central banks try to raise rates just enough to bring inflation down without tipping the economy into a recession — often called a "soft landing".""")

add("general", "en", "Is it safe to eat raw cookie dough?", """\
It's not recommended, for two reasons:

1. **Raw eggs** can carry Salmonella.
2. **Raw flour** is also a risk — it isn't treated to kill bacteria and has been linked to E. coli outbreaks.

If you love eating it raw, make an "edible" version: leave out the eggs (use a splash of milk instead) and heat-treat the flour first — bake it on a tray at 175 °C / 350 °F for about 5 minutes, or microwave it until it reaches 74 °C / 165 °F. Many stores also sell cookie dough that's specifically labelled as safe to eat raw.""")

add("general", "en", "How does a vaccine train the immune system?", """\
A vaccine shows your immune system a harmless preview of a pathogen so it can prepare before the real thing arrives.

Depending on the type, the vaccine contains a weakened or inactivated virus, a piece of it (like a protein), or instructions (mRNA) that let your own cells make that piece for a short while. Your immune system recognises it as foreign and responds: B cells produce antibodies that bind to it, and T cells learn to recognise and destroy infected cells.

Crucially, some of those cells become long-lived memory cells. If you later encounter the actual pathogen, they recognise it immediately and mount a fast, strong response — often stopping the infection before you get seriously ill. That's also why some vaccines need boosters: memory can fade, or the pathogen can change.""")

add("general", "en", "What is the Peace of Westphalia known for?", """\
The Peace of Westphalia (1648) is a series of treaties signed in Osnabrück and Münster that ended the Thirty Years' War in the Holy Roman Empire and the Eighty Years' War between Spain and the Dutch Republic.

It's famous for a few reasons:

- It confirmed that rulers could determine the religion of their own territories, extending the principle to Calvinists as well as Lutherans and Catholics.
- It formally recognised the independence of the Dutch Republic and the Swiss Confederation.
- It weakened the authority of the Holy Roman Emperor over the German princes.

Political scientists often cite it as the origin of the modern system of sovereign states — "Westphalian sovereignty" — in which each state has exclusive authority over its own territory, although historians debate how much the treaties themselves actually established that idea.""")

add("general", "en", "Can you fix the grammar in this sentence: 'Me and him goes to the store yesterday.'", """\
Corrected: "He and I went to the store yesterday."

Changes:
- "Me and him" → "He and I": they're the subject of the sentence, so they need subject pronouns, and it's conventional to put yourself last.
- "goes" → "went": "yesterday" means the action is in the past, and a plural subject would take "go" anyway.""")

add("general", "en", "Translate 'Where is the train station?' into Italian.", "Dov'è la stazione ferroviaria? (In everyday speech people often just say \"Dov'è la stazione?\")")

add("general", "en", "What is the boiling point of water at the top of Mount Everest?", """\
About 70 °C (roughly 158 °F). At the summit, 8,849 m above sea level, the air pressure is only about a third of what it is at sea level, and lower pressure means water boils at a lower temperature. That's why cooking pasta or rice at high altitude takes much longer — the water simply can't get as hot.""")

add("general", "en", "Write a haiku about autumn rain.", """\
Cold rain on the roof —
the maple lets go its last
red leaf to the street""")

add("general", "en", "Explain the difference between 'affect' and 'effect'.", """\
In most cases:

- **Affect** is a verb meaning "to influence": *The weather affected my mood.*
- **Effect** is a noun meaning "a result": *The weather had an effect on my mood.*

A handy trick is **A**ffect = **A**ction, **E**ffect = **E**nd result.

There are exceptions. "Effect" can be a verb meaning "to bring about" (*to effect change*), and "affect" can be a noun in psychology, meaning an outwardly displayed emotion (*the patient had a flat affect*). But if you stick to the rule above, you'll be right the vast majority of the time.""")

add("general", "en", "How long should I boil an egg for a jammy yolk?", """\
For a large egg straight from the fridge, lower it gently into water that's already at a rolling boil and cook for **6½ to 7 minutes**, then transfer it straight to a bowl of ice water for a couple of minutes to stop the cooking. You'll get a fully set white and a thick, jammy yolk. Go for 6 minutes if you want it a little runnier, or 8 if you prefer it closer to set.""")

add("general", "en", """\
Summarise this paragraph for a newsletter, in two sentences max:

Coral reefs cover less than one percent of the ocean floor, yet they support around a quarter of all marine species. Reefs protect coastlines from storms and erosion, provide food and income for hundreds of millions of people, and are a source of compounds used in new medicines. Rising sea temperatures cause corals to expel the algae living in their tissues, a process known as bleaching, which leaves them white and vulnerable. If high temperatures persist, the corals starve and die. Scientists warn that without significant cuts in greenhouse gas emissions, most of the world's reefs could be severely degraded by the end of the century.""", """\
Coral reefs occupy under 1% of the seafloor but shelter a quarter of marine species and support the livelihoods and coastlines of hundreds of millions of people. Warming seas are causing widespread bleaching, and scientists warn most reefs could be badly degraded by 2100 unless emissions fall sharply.""")

add("general", "en", "What's a polite way to decline a meeting invitation? ", """\
Something short and friendly works best. For example:

"Thanks for the invite! Unfortunately I won't be able to join this one because of a conflicting commitment. Could you share the notes afterwards, or let me know if there's anything you need from me beforehand?"

If you think you genuinely aren't needed, you can be a bit more direct: "I don't think I'd add much to this discussion, so I'll sit this one out — but feel free to loop me in if any questions come up in my area." """)

add("general", "en", "Why do we have leap years?", """\
Because a year — one full orbit of the Earth around the Sun — takes about 365.2422 days, not exactly 365. If every calendar year had 365 days, the calendar would drift by almost a day every four years, and after a few centuries the seasons would be completely out of sync with the months.

Adding an extra day (29 February) every four years fixes most of that. But +0.25 per year slightly overcorrects, so the Gregorian calendar has an extra rule: years divisible by 100 are *not* leap years, unless they're also divisible by 400. That's why 1900 was not a leap year but 2000 was.""")

add("general", "en", "Describe the causes of World War I in a short paragraph.", """\
World War I grew out of a tangle of long-term tensions and a single spark. Europe's great powers were locked into rival alliances — the Triple Entente of France, Russia and Britain against the Triple Alliance centred on Germany and Austria-Hungary — while an intense arms race, imperial competition over colonies, and nationalist movements, especially in the Balkans, kept tensions high. When the Bosnian Serb Gavrilo Princip assassinated Archduke Franz Ferdinand of Austria-Hungary in Sarajevo on 28 June 1914, Austria-Hungary's ultimatum to Serbia set off a chain of mobilisations and declarations of war that, within weeks, pulled almost the entire continent into the conflict.""")

add("general", "en", "What are black holes made of?", """\
That's a surprisingly deep question! A black hole isn't made of "stuff" in the usual sense. It forms when a huge amount of mass — for example the core of a massive star — collapses so much that its gravity prevents anything, even light, from escaping beyond a boundary called the event horizon.

According to general relativity, all the mass that falls in ends up concentrated at a point (or ring, for a spinning black hole) of infinite density called a singularity. In practice, physicists think that description breaks down and a theory of quantum gravity is needed to say what's really there.

From the outside, a black hole is described by just three numbers: its mass, its spin and its electric charge. Whatever fell in — gas, stars, a spaceship — it all looks the same from outside. This is sometimes summarised as "black holes have no hair".""")

add("general", "en", "Give me feedback on my opening line: 'It was a dark and stormy night, and Detective Hale hated the rain.'", """\
Honest feedback: "It was a dark and stormy night" is one of the most famous clichés in English (there's even a contest for bad opening sentences named after it), so many readers will groan before they reach the second half.

The second half is where the interest is — it gives us a character and an attitude. Consider leading with that and making it more specific:

- "Detective Hale had hated the rain ever since it washed away the only evidence that could have cleared his brother."
- "Rain again. Detective Hale turned up his collar and decided, not for the first time, that the city deserved it."

Both keep the mood but replace the cliché with a hint of backstory or voice, which gives readers a reason to keep going.""")

add("general", "en", "I don't have buttermilk. What can I use instead?", """\
Easy fix: for each cup (240 ml) of buttermilk, put 1 tablespoon of lemon juice or white vinegar in a measuring cup, top it up with regular milk to the 1-cup line, stir, and let it sit for 5–10 minutes until it thickens slightly and curdles a bit.

Other options:
- Plain yogurt or sour cream thinned with a little milk or water (about ¾ yogurt + ¼ milk).
- Kefir, which can be used 1:1.
- For non-dairy baking, oat or soy milk with lemon juice works surprisingly well.""")

add("general", "en", "What's the best time of year to visit Japan?", """\
It depends on what you want, but most people would say **spring (late March to early May)** or **autumn (October to November)**.

- **Spring** is cherry-blossom season, peaking in Tokyo and Kyoto around late March/early April. It's beautiful but crowded and expensive, especially during Golden Week (late April–early May), which is best avoided.
- **Autumn** has mild weather and brilliant red maple leaves, peaking in Kyoto in mid to late November.
- **Summer** (June–August) is hot and humid, with a rainy season in June, but it's festival season and the time to climb Mount Fuji.
- **Winter** is great for skiing in Hokkaido or Nagano, and cities are quieter and clear-skied.

If you're flexible, late October or mid-November is a great compromise.""")

add("general", "en", "Explain Newton's three laws of motion.", """\
1. **First law (inertia):** An object stays at rest, or keeps moving in a straight line at constant speed, unless a net force acts on it. A hockey puck glides until friction or a stick changes its motion.

2. **Second law (F = ma):** The acceleration of an object is proportional to the net force on it and inversely proportional to its mass. Push a shopping cart with the same force when it's empty and when it's full, and the empty one accelerates much more.

3. **Third law (action–reaction):** For every force one object exerts on another, the second object exerts an equal and opposite force on the first. When you push against a wall, the wall pushes back on you just as hard; a rocket pushes exhaust gas backwards and the gas pushes the rocket forwards.""")

add("general", "en", "What does DNA stand for and what does it do?", """\
DNA stands for **deoxyribonucleic acid**. It's the molecule that carries the genetic instructions for building and running every known living organism (and many viruses).

Structurally it's a double helix: two strands twisted around each other, held together by pairs of bases — adenine (A) with thymine (T), and cytosine (C) with guanine (G). The order of these bases encodes information, much like letters in a text.

Cells "read" sections of DNA called genes and copy them into RNA, which is then translated into proteins — the molecules that do most of the work in cells. DNA can also copy itself when a cell divides, which is how genetic information is passed from one generation to the next.""")

add("general", "en", """\
Can you make this email shorter? I always write too much.

"Dear team, I hope this message finds you well. I just wanted to reach out and touch base regarding the upcoming quarterly planning session, which, as many of you will already know, is scheduled to take place next Thursday. I would be extremely grateful if each of you could take some time before then to put together a brief summary of your team's key priorities for the next quarter, as well as any blockers you foresee, so that we can make the most of our time together. Please send these to me by Tuesday end of day if at all possible. Thanks so much in advance for your help with this!"
""", """\
Here's a tighter version:

"Hi team,

Ahead of next Thursday's quarterly planning session, please send me a short summary of your team's priorities for next quarter and any blockers you expect. Tuesday end of day would be ideal.

Thanks!"

It keeps every request from the original but drops the warm-up phrases ("I hope this message finds you well", "just wanted to reach out") and the hedging ("if at all possible", "extremely grateful").""")

add("general", "en", "Write a short product description for a stainless steel water bottle.", """\
Meet the bottle that keeps up with you. Double-walled, vacuum-insulated stainless steel keeps drinks ice-cold for 24 hours or hot for 12, with no sweating and no metallic taste. The leak-proof lid and powder-coated grip survive backpacks, gym bags and the occasional drop onto concrete. At 750 ml it fits most cup holders, it's free from BPA, and it's dishwasher safe. One bottle, zero plastic waste, every day.""")

add("general", "en", "Why did the Titanic sink?", """\
On the night of 14–15 April 1912, the RMS Titanic struck an iceberg in the North Atlantic. The collision buckled the hull plates along the starboard side and opened the first five or six watertight compartments to the sea. The ship was designed to stay afloat with up to four compartments flooded, but not more: as the bow sank, water spilled over the tops of the bulkheads from one compartment into the next.

Several factors made things worse: the ship was travelling at nearly full speed despite ice warnings, the lookouts had no binoculars, the night was moonless and unusually calm (so there were no waves breaking at the iceberg's base to make it visible), and there were lifeboats for only about half the people on board. The ship sank about two hours and forty minutes after the collision, and more than 1,500 people died.""")

add("general", "en", "What is the difference between a virus and bacteria?", """\
Bacteria are single-celled living organisms. They have their own cell membrane, ribosomes and metabolism, can reproduce on their own by dividing, and live almost everywhere — most are harmless or even helpful, like the ones in your gut. Harmful bacterial infections can usually be treated with antibiotics.

Viruses are much smaller and are not cells at all. They're basically genetic material (DNA or RNA) wrapped in a protein coat, and they can only reproduce by hijacking a host cell's machinery. Antibiotics do nothing against them; viral infections are treated with antivirals (for some viruses), managed with supportive care, or prevented with vaccines.

Rough size comparison: a typical bacterium is about 1–2 micrometres long, while many viruses are 20–300 nanometres — roughly 10 to 100 times smaller.""")

add("general", "en", "how do i keep fresh basil from wilting", """\
Basil hates the cold, so don't put it in the fridge — the leaves turn black. Instead, treat it like cut flowers:

1. Trim the ends of the stems.
2. Stand the bunch in a glass with a couple of centimetres of water.
3. Loosely cover the leaves with a plastic bag (optional, but it helps).
4. Keep it on the counter out of direct sunlight and change the water every day or two.

It'll stay fresh for about a week this way. If you have too much, blend it with olive oil and freeze it in an ice cube tray.""")

add("general", "en", "Explain the Pythagorean theorem with an example.", """\
The Pythagorean theorem says that in a right-angled triangle, the square of the hypotenuse (the side opposite the right angle) equals the sum of the squares of the other two sides:

a² + b² = c²

**Example:** a ladder leans against a wall. Its foot is 3 m from the wall, and it touches the wall 4 m above the ground. How long is the ladder?

c² = 3² + 4² = 9 + 16 = 25, so c = √25 = 5 m.

It also works in reverse: if a triangle's sides satisfy a² + b² = c², it must be a right triangle. Builders use this with a 3-4-5 string to check that corners are square.""")

add("general", "en", "What is π and why is it irrational?", """\
π (pi) is the ratio of a circle's circumference to its diameter: for any circle, C = πd. Its value is about 3.14159265…

"Irrational" means it can't be written as a fraction p/q of two integers, so its decimal expansion never ends and never settles into a repeating pattern. (22/7 ≈ 3.142857 is a handy approximation, but it's not exact.)

Proving that π is irrational isn't obvious. Johann Lambert gave the first proof in 1761 using continued fractions; a famous short proof by Ivan Niven (1947) assumes π = a/b, builds a cleverly chosen integral that would have to be a positive integer, and then shows it is strictly between 0 and 1 — a contradiction. In 1882 Ferdinand von Lindemann went further and proved π is *transcendental*, meaning it isn't the root of any polynomial with integer coefficients, which settled that "squaring the circle" with ruler and compass is impossible.""")

add("general", "en", "Compute ∑_{k=1}^{100} k.", """\
∑_{k=1}^{100} k = 5050.

Using the formula ∑_{k=1}^{n} k = n(n + 1)/2 with n = 100: 100 · 101 / 2 = 5050.

(The story goes that a young Gauss spotted this by pairing terms: 1 + 100, 2 + 99, …, 50 + 51 gives 50 pairs that each sum to 101.)""")

add("general", "en", "Simplify √50", "√50 = √(25 · 2) = 5√2 ≈ 7.071")

add("general", "en", "Prove that for all real x, x² + 1 ≥ 2x.", """\
Move everything to one side:

x² + 1 − 2x = x² − 2x + 1 = (x − 1)².

A square of a real number is never negative, so (x − 1)² ≥ 0 for every real x. Therefore x² + 1 − 2x ≥ 0, i.e. x² + 1 ≥ 2x. ∎

Equality holds exactly when (x − 1)² = 0, that is, when x = 1. (This is a special case of the AM–GM inequality: (a + b)/2 ≥ √(ab) with a = x², b = 1, for x ≥ 0.)""")

add("general", "en", "What is the derivative of x²·sin(x)?", """\
Use the product rule, (uv)′ = u′v + uv′, with u = x² and v = sin(x):

d/dx [x² sin(x)] = 2x · sin(x) + x² · cos(x)

So the derivative is **2x sin(x) + x² cos(x)**.""")

add("general", "en", "Explain Big-O notation. What does O(n log n) actually mean?", """\
Big-O notation describes how the running time (or memory use) of an algorithm grows as the input size n grows, ignoring constant factors and lower-order terms. Formally, f(n) = O(g(n)) means there are constants c > 0 and n₀ such that f(n) ≤ c·g(n) for all n ≥ n₀ — it's an upper bound on the growth rate.

Some common classes, from fastest to slowest growing:

- O(1): constant — looking up an element in an array by index.
- O(log n): logarithmic — binary search in a sorted list.
- O(n): linear — scanning a list once.
- O(n log n): linearithmic — efficient comparison sorts like merge sort.
- O(n²): quadratic — comparing every pair of elements.

O(n log n) means the work is roughly proportional to n times the logarithm of n. Merge sort is the classic example: it splits the list in half about log₂ n times, and at each level of splitting it does O(n) work merging. For n = 1,000,000 that's on the order of 20 million steps, versus about a trillion for an O(n²) algorithm — which is why the difference matters so much in practice.""")

add("general", "en", "I have a job interview tomorrow 😬 any last-minute tips?", """\
You've got this! 💪 A few things that make the biggest difference at the last minute:

1. **Re-read the job description** and pick the 3 requirements you match best. Have one short story ready for each.
2. **Prepare your "tell me about yourself"** — 60–90 seconds: where you are now, what you've done that's relevant, and why this role is the logical next step.
3. **Use the STAR format** for behavioural questions: Situation, Task, Action, Result. Keep the focus on what *you* did.
4. **Have 2–3 questions for them**, e.g. "What does success look like in the first six months?" or "What's the biggest challenge the team is facing right now?"
5. **Logistics tonight:** check the route or test your video link, lay out your clothes, and charge your laptop/phone.
6. **Sleep.** Seriously — a rested brain beats an extra hour of cramming.

Tomorrow, arrive 10 minutes early, take a breath before you answer, and remember they're hoping you'll be the right person. Good luck! 🍀""")

add("general", "en", "Write a birthday message for my sister who loves cats 🐱", """\
Happy birthday to my favourite sister! 🎂🐱

May your year be full of sunny windowsills, long naps, and zero knocked-over mugs. Thank you for always being the one who makes me laugh (and for never judging me when I'm grumpy — you've had plenty of practice with cats). I hope today is as purr-fect as you are.

Love you lots! 🐾""")

add("general", "en", "What should I pack for a weekend camping trip? ⛺", """\
Here's a solid checklist for two nights:

**Shelter & sleep**
- Tent (with stakes, poles and rainfly), sleeping bag rated for the night-time low, sleeping pad, pillow

**Kitchen**
- Stove + fuel, lighter/matches, pot, pan, utensils, mugs, biodegradable soap, sponge
- Cooler with ice, easy meals, snacks, plenty of water (or a filter)

**Clothing**
- Layers: base layer, fleece, waterproof jacket
- Warm hat, extra socks, sturdy shoes, something comfy for the evening

**Essentials**
- Headlamp + spare batteries, first-aid kit, sunscreen, insect repellent
- Map/phone + power bank, knife or multitool, trash bags

**Nice to have**
- Camp chairs, a tarp, playing cards, marshmallows 🔥

Check the weather forecast and fire regulations for the site before you go.""")

add("general", "en", "Convert 72°F to Celsius.", "72 °F ≈ 22.2 °C (using °C = (°F − 32) × 5/9 = 40 × 5/9 ≈ 22.2).")

add("general", "en", "What does 'carpe diem' mean?", """\
"Carpe diem" is Latin for "seize the day". It comes from the Roman poet Horace (*Odes*, Book 1, 23 BCE), in a line that continues "quam minimum credula postero" — "trusting as little as possible in tomorrow". It's an encouragement to make the most of the present rather than putting things off for a future that isn't guaranteed.""")

add("general", "en", "Tell me about the Silk Road.", """\
The Silk Road wasn't one road but a network of overland and maritime trade routes connecting China with Central Asia, the Middle East, Africa and Europe. It flourished from around the 2nd century BCE, when the Han dynasty opened routes westward, until roughly the 15th century.

Silk was the famous export, but caravans also carried spices, tea, porcelain, paper, horses, glassware, gold and silver. Just as important were the ideas that travelled along it: Buddhism spread from India into China, Islam spread into Central Asia, and technologies like papermaking and gunpowder moved west.

Cities such as Samarkand, Bukhara, Kashgar and Dunhuang grew rich as trading hubs. Very few merchants travelled the whole length; goods usually passed through many hands. The routes declined as sea trade became cheaper and safer and as the political unity of the Mongol Empire broke down. The term "Silk Road" itself was only coined in 1877 by the German geographer Ferdinand von Richthofen.""")

add("general", "en", "How do tides work?", """\
Tides are mainly caused by the Moon's gravity. The Moon pulls slightly harder on the side of the Earth facing it than on the Earth's centre, and slightly less on the far side. The result is two bulges of ocean water: one facing the Moon and one on the opposite side.

As the Earth rotates, a given coastline passes through both bulges each day, which is why most places get two high tides and two low tides roughly every 24 hours and 50 minutes (the extra 50 minutes is because the Moon moves along its orbit meanwhile).

The Sun has a similar but weaker effect (about 46% of the Moon's). When the Sun and Moon line up — at new and full moon — their effects add up and we get larger "spring tides". When they're at right angles, at the quarter moons, we get smaller "neap tides". Local coastline shape and sea floor depth can amplify tides enormously; the Bay of Fundy in Canada has a range of over 15 m.""")

add("general", "en", "Suggest a vegetarian dinner that takes under 30 minutes", """\
Try a **chickpea and spinach curry** — about 25 minutes, one pan:

1. Fry a chopped onion in oil for 5 minutes, then add 2 cloves of garlic and a thumb of grated ginger for 1 minute.
2. Stir in 2 tbsp curry paste (or 1 tbsp garam masala + 1 tsp cumin + ½ tsp turmeric).
3. Add a 400 g tin of chopped tomatoes, a 400 g tin of drained chickpeas and half a tin of coconut milk. Simmer for 10–12 minutes.
4. Stir in two big handfuls of spinach until wilted, season with salt and a squeeze of lime.

Serve with rice (start it first) or warm naan, and top with coriander and a spoonful of yogurt.""")

add("general", "en", "What were the main achievements of the Apollo program?", """\
The Apollo program (1961–1972) is best known for landing humans on the Moon, but it achieved quite a lot more:

- **First crewed lunar orbit:** Apollo 8 (December 1968) took Frank Borman, Jim Lovell and Bill Anders around the Moon and produced the "Earthrise" photograph.
- **First Moon landing:** Apollo 11, 20 July 1969 — Neil Armstrong and Buzz Aldrin walked on the surface while Michael Collins orbited above.
- **Six successful landings** in total (Apollo 11, 12, 14, 15, 16 and 17), with twelve astronauts walking on the Moon.
- **382 kg of lunar samples** brought back, which transformed our understanding of the Moon's origin.
- **Apollo 13's safe return** after an oxygen tank exploded in 1970, a landmark in crisis engineering.
- **Technology spin-offs**, from advances in integrated circuits and guidance computers to fire-resistant materials.""")

add("general", "en", "Why does bread go stale?", """\
Mostly not because it dries out, surprisingly, but because of **starch retrogradation**. When bread bakes, the starch granules absorb water and become soft and gel-like. As the bread cools and sits, the starch molecules slowly re-crystallise and squeeze water out, making the crumb firm and crumbly. Meanwhile moisture migrates from the crumb to the crust, which is why the crust turns leathery.

Retrogradation happens fastest at fridge temperatures, so refrigerating bread actually makes it stale quicker. Keep it at room temperature in a bread box or paper bag for a few days, or freeze slices for longer storage. Briefly reheating stale bread in the oven temporarily reverses the process — that's why toast or a 5-minute warm-up can revive a day-old baguette.""")

add("general", "en", "What's the difference between 'its' and 'it's'?", """\
- **it's** = "it is" or "it has": *It's raining. It's been a long day.*
- **its** = possessive, "belonging to it": *The dog wagged its tail.*

Test: if you can replace the word with "it is" or "it has" and the sentence still makes sense, use the apostrophe. Otherwise, don't. (Possessive pronouns like *his*, *hers* and *its* never take an apostrophe.)""")

add("general", "en", "Help me write a toast for my best friend's wedding. We met in college, he's terrible at cooking, and his wife Priya is a doctor.", """\
Here's a short toast (about 90 seconds) you can adapt:

---

"Good evening, everyone. For those who don't know me, I'm [Name], and I've had the privilege of being [Groom]'s best friend since our first week of college — when he tried to make pasta in our dorm kettle and set off the fire alarm for the entire building.

I'd love to tell you his cooking has improved since then. I'd love to. But what *has* improved is everything else. Over the years I've watched him become the most loyal, generous and ridiculously stubborn friend anyone could ask for.

And then he met Priya. Priya, you are brilliant, kind, and — as a doctor — professionally qualified to deal with whatever happens when he's in the kitchen. More seriously: I've never seen him happier than he is with you. You make each other better, and it's a joy to watch.

So please raise your glasses. To Priya and [Groom] — may your life together be long, full of laughter, and mostly takeaway. Cheers!"

---

Tip: practise it out loud a few times, and pause after the jokes to let people laugh.""")

# ---------------------------------------------------------------------------
# Code questions
# ---------------------------------------------------------------------------

add("code", "en", "How do I reverse a string in Python?", """\
The idiomatic way is slicing with a step of -1:

```python
s = "hello world"
reversed_s = s[::-1]
print(reversed_s)  # dlrow olleh
```

You can also use `reversed()` with `join`, which reads a bit more explicitly:

```python
reversed_s = "".join(reversed(s))
```

Both are O(n). Note that neither handles grapheme clusters (e.g. emoji with skin-tone modifiers or combining accents) "correctly" — they reverse code points, not user-perceived characters.""")

add("code", "en", "Write a Python script that reads sales.csv and prints the average of the 'amount' column.", """\
Here's a version using only the standard library:

```python
import csv
import sys


def average_amount(path):
    total = 0.0
    count = 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        for row in reader:
            value = row.get("amount", "").strip()
            if not value:
                continue  # skip empty cells
            try:
                total += float(value)
                count += 1
            except ValueError:
                print(f"Skipping bad value: {value!r}", file=sys.stderr)
    return total / count if count else None


if __name__ == "__main__":
    avg = average_amount("sales.csv")
    if avg is None:
        print("No numeric values found in 'amount'.")
    else:
        print(f"Average amount: {avg:.2f}")
```

If you already use pandas, it's a one-liner:

```python
import pandas as pd

print(pd.read_csv("sales.csv")["amount"].mean())
```""")

add("code", "en", """\
Why does this function keep remembering old values between calls?

```python
def add_item(item, items=[]):
    items.append(item)
    return items

print(add_item(1))
print(add_item(2))
```

It prints [1] and then [1, 2].""", """\
That's the classic **mutable default argument** gotcha. Default values are evaluated once, when the `def` statement runs — not each time the function is called. So every call that doesn't pass `items` shares the *same* list object, and `append` keeps mutating it.

The standard fix is to use `None` as a sentinel and create a new list inside the function:

```python
def add_item(item, items=None):
    if items is None:
        items = []
    items.append(item)
    return items

print(add_item(1))  # [1]
print(add_item(2))  # [2]
```

The same applies to dicts, sets and any other mutable default. Linters like Pylint (W0102) and Ruff (B006) will warn you about this pattern.""")

add("code", "en", "Give me a one-line list comprehension that squares only the even numbers in a list.", """\
```python
squares = [x * x for x in nums if x % 2 == 0]
```

For example, with `nums = [1, 2, 3, 4, 5, 6]` you get `[4, 16, 36]`.""")

add("code", "en", "Can you explain Python decorators with a simple example?", """\
A decorator is a function that takes another function and returns a new function that usually adds some behaviour around the original one. The `@decorator` syntax is just shorthand for `func = decorator(func)`.

Here's a decorator that measures how long a function takes:

```python
import functools
import time


def timed(func):
    @functools.wraps(func)  # keep the original name and docstring
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        elapsed = time.perf_counter() - start
        print(f"{func.__name__} took {elapsed:.3f}s")
        return result
    return wrapper


@timed
def slow_sum(n):
    return sum(i * i for i in range(n))


slow_sum(5_000_000)
# slow_sum took 0.312s
```

What happens step by step:

1. `@timed` passes `slow_sum` into `timed`.
2. `timed` defines `wrapper`, which calls the original function in between two timestamps.
3. `timed` returns `wrapper`, and the name `slow_sum` now refers to it.

`functools.wraps` is important: without it, `slow_sum.__name__` would be `"wrapper"`, which makes debugging and introspection confusing.""")

add("code", "en", "Show me how to use a dataclass in Python for a Point with x and y and a method for distance to the origin.", """\
```python
from dataclasses import dataclass
import math


@dataclass(frozen=True)
class Point:
    x: float
    y: float

    def distance_to_origin(self) -> float:
        return math.hypot(self.x, self.y)


p = Point(3, 4)
print(p)                       # Point(x=3, y=4)
print(p.distance_to_origin())  # 5.0
print(p == Point(3, 4))        # True
```

`@dataclass` generates `__init__`, `__repr__` and `__eq__` for you. `frozen=True` makes instances immutable (and hashable), which is a good default for small value objects like points; drop it if you need to modify `x` and `y` after creation.""")

add("code", "en", "How do I run several slow tasks concurrently with asyncio?", """\
Use `asyncio.gather` to schedule several coroutines at once and wait for all of them:

```python
import asyncio
import random


async def fetch(name: str) -> str:
    delay = random.uniform(0.5, 2.0)
    await asyncio.sleep(delay)  # stands in for a network call
    return f"{name} done after {delay:.2f}s"


async def main():
    names = ["users", "orders", "invoices"]
    results = await asyncio.gather(*(fetch(n) for n in names))
    for line in results:
        print(line)


asyncio.run(main())
```

The total time is roughly the *longest* single delay, not the sum, because all three waits overlap.

A few notes:

- This only helps with I/O-bound work (network, disk, sleeps). CPU-heavy code still blocks the event loop; use `concurrent.futures.ProcessPoolExecutor` for that.
- Pass `return_exceptions=True` to `gather` if you want one failing task not to cancel the others.
- On Python 3.11+, `asyncio.TaskGroup` is a nicer alternative with structured error handling.""")

add("code", "en", "What's the cleanest way to merge two dictionaries in Python 3?", """\
On Python 3.9+ use the `|` operator:

```python
defaults = {"color": "blue", "size": "M"}
overrides = {"size": "L"}

merged = defaults | overrides
print(merged)  # {'color': 'blue', 'size': 'L'}
```

Keys from the right-hand dict win. There's also an in-place version: `defaults |= overrides`.

On older versions, use unpacking: `merged = {**defaults, **overrides}`.""")

add("code", "en", "count the 10 most common words in a text file python", """\
```python
import re
from collections import Counter

with open("book.txt", encoding="utf-8") as f:
    text = f.read().lower()

words = re.findall(r"[a-z']+", text)
counts = Counter(words)

for word, n in counts.most_common(10):
    print(f"{word:<15}{n}")
```

`re.findall` splits the text into words (keeping apostrophes, so "don't" stays one word), and `Counter.most_common(10)` returns the ten highest counts. If you want to ignore words like "the" and "and", filter them out with a stop-word set before counting.""")

add("code", "en", "Implement binary search in Python and explain its complexity.", """\
```python
def binary_search(items, target):
    # Return the index of target in the sorted list items, or -1.
    lo, hi = 0, len(items) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if items[mid] == target:
            return mid
        if items[mid] < target:
            lo = mid + 1
        else:
            hi = mid - 1
    return -1


data = [2, 5, 8, 12, 16, 23, 38, 56, 72, 91]
print(binary_search(data, 23))  # 5
print(binary_search(data, 7))   # -1
```

**Complexity:** each iteration halves the search range, so it takes at most ⌈log₂(n + 1)⌉ comparisons — O(log n) time and O(1) extra space. For a million items, that's about 20 comparisons.

The list must be sorted. In real code you'd usually reach for the standard library's `bisect` module, which implements the same idea.""")

add("code", "en", "Write a debounce function in JavaScript.", """\
```javascript
function debounce(fn, delay = 300) {
  let timeoutId;
  return function (...args) {
    clearTimeout(timeoutId);
    timeoutId = setTimeout(() => {
      fn.apply(this, args);
    }, delay);
  };
}

// Usage: only search after the user stops typing for 300 ms
const input = document.querySelector("#search");
input.addEventListener(
  "input",
  debounce((event) => {
    console.log("Searching for", event.target.value);
  }, 300)
);
```

Every call resets the timer, so `fn` only runs once the calls have stopped for `delay` milliseconds. Using a regular `function` for the returned wrapper (instead of an arrow function) preserves `this` when the debounced function is used as a method.""")

add("code", "en", "How do I fetch JSON from an API with async/await in JavaScript and handle errors properly?", """\
```javascript
async function getUser(id) {
  try {
    const response = await fetch(`https://api.example.com/users/${id}`);

    // fetch only rejects on network errors, not on 404/500
    if (!response.ok) {
      throw new Error(`HTTP ${response.status}: ${response.statusText}`);
    }

    const user = await response.json();
    return user;
  } catch (err) {
    console.error("Failed to load user:", err.message);
    return null;
  }
}

getUser(42).then((user) => {
  if (user) {
    console.log(user.name);
  }
});
```

The key detail is checking `response.ok`: `fetch` happily resolves for a 404 or 500, so without that check you'd try to parse an error page as JSON. If you need a timeout, pass an `AbortSignal`, e.g. `fetch(url, { signal: AbortSignal.timeout(5000) })`.""")

add("code", "en", "What is the difference between == and === in JavaScript?", """\
`===` is **strict equality**: it returns `true` only if both values have the same type and the same value. `==` is **loose equality**: if the types differ, it first tries to convert them to a common type.

```javascript
0 == "0";          // true  (string converted to number)
0 === "0";         // false (number vs string)

null == undefined; // true
null === undefined;// false

"" == 0;           // true
false == "0";      // true  (!)
[] == false;       // true  (!!)
```

Because the coercion rules produce surprises like the last two, most style guides recommend always using `===` and `!==`. The one common exception is `x == null`, which is a concise way to check for both `null` and `undefined`.""")

add("code", "en", "Remove duplicates from an array in JS", """\
The shortest way is with a `Set`:

```javascript
const nums = [3, 1, 3, 2, 1, 5];
const unique = [...new Set(nums)];
console.log(unique); // [3, 1, 2, 5]
```

It keeps the first occurrence of each value in its original order. Note that a `Set` compares objects by reference, so for an array of objects you need to de-duplicate by a key:

```javascript
const users = [
  { id: 1, name: "Ana" },
  { id: 2, name: "Ben" },
  { id: 1, name: "Ana" },
];

const uniqueUsers = [...new Map(users.map((u) => [u.id, u])).values()];
```""")

add("code", "en", "I have an array of cart items like {name, price, qty}. How do I get the total using reduce?", """\
```javascript
const cart = [
  { name: "Notebook", price: 4.5, qty: 3 },
  { name: "Pen", price: 1.2, qty: 10 },
  { name: "Backpack", price: 39.99, qty: 1 },
];

const total = cart.reduce((sum, item) => sum + item.price * item.qty, 0);

console.log(total.toFixed(2)); // "65.49"
```

Always pass the initial value (`0` here); without it, `reduce` uses the first *item object* as the starting accumulator and you'd get string concatenation nonsense. For real money amounts, consider working in integer cents to avoid floating-point rounding errors.""")

add("code", "en", "what is a closure in javascript? example pls", """\
A closure is a function that "remembers" the variables from the scope where it was created, even after that outer function has finished running.

```javascript
function makeCounter() {
  let count = 0; // private to this counter
  return function () {
    count += 1;
    return count;
  };
}

const counterA = makeCounter();
const counterB = makeCounter();

console.log(counterA()); // 1
console.log(counterA()); // 2
console.log(counterB()); // 1  (separate closure, separate count)
```

`makeCounter` has returned, but the inner function still has access to its own `count`. Nothing outside can modify `count` directly, which makes closures a simple way to create private state. They're also what make callbacks, event handlers and functions like `debounce` work.""")

add("code", "en", """\
I have two tables:

customers(id, name, country)
orders(id, customer_id, amount, created_at)

Write a SQL query for the top 5 customers by total order amount in 2023.""", """\
```sql
SELECT
    c.id,
    c.name,
    SUM(o.amount) AS total_amount
FROM customers AS c
JOIN orders AS o
    ON o.customer_id = c.id
WHERE o.created_at >= '2023-01-01'
  AND o.created_at <  '2024-01-01'
GROUP BY c.id, c.name
ORDER BY total_amount DESC
LIMIT 5;
```

Using a half-open date range (`>=` start and `<` next year) instead of `YEAR(created_at) = 2023` works correctly with timestamps and lets the database use an index on `created_at`. On SQL Server, replace `LIMIT 5` with `SELECT TOP 5 ...`.""")

add("code", "en", "Explain the difference between INNER JOIN and LEFT JOIN with an example.", """\
Suppose we have:

```sql
-- authors            -- books
-- id | name          -- id | author_id | title
--  1 | Austen        --  1 |     1     | Emma
--  2 | Borges        --  2 |     1     | Persuasion
--  3 | Calvino       --  3 |     2     | Ficciones
```

**INNER JOIN** returns only rows that have a match in both tables:

```sql
SELECT a.name, b.title
FROM authors a
INNER JOIN books b ON b.author_id = a.id;
-- Austen  | Emma
-- Austen  | Persuasion
-- Borges  | Ficciones
```

**LEFT JOIN** returns every row from the left table, plus matches from the right table, filling in `NULL` where there's no match:

```sql
SELECT a.name, b.title
FROM authors a
LEFT JOIN books b ON b.author_id = a.id;
-- Austen  | Emma
-- Austen  | Persuasion
-- Borges  | Ficciones
-- Calvino | NULL
```

A common use of LEFT JOIN is finding rows *without* a match: add `WHERE b.id IS NULL` to list authors who have no books.""")

add("code", "en", "SQL to find duplicate email addresses in a users table?", """\
```sql
SELECT email, COUNT(*) AS occurrences
FROM users
GROUP BY email
HAVING COUNT(*) > 1
ORDER BY occurrences DESC;
```

If emails might differ only in case or surrounding spaces, normalise them first:

```sql
SELECT LOWER(TRIM(email)) AS normalized_email, COUNT(*) AS occurrences
FROM users
GROUP BY LOWER(TRIM(email))
HAVING COUNT(*) > 1;
```

To see the full rows involved, join back to `users` on the normalised email or use a window function such as `COUNT(*) OVER (PARTITION BY email)`.""")

add("code", "en", "How can I compute a running total of daily revenue in SQL?", """\
Use a window function with `SUM(...) OVER (ORDER BY ...)`:

```sql
SELECT
    day,
    revenue,
    SUM(revenue) OVER (
        ORDER BY day
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    ) AS running_total
FROM daily_revenue
ORDER BY day;
```

If you want the running total to restart every month, add a partition:

```sql
SUM(revenue) OVER (
    PARTITION BY DATE_TRUNC('month', day)
    ORDER BY day
) AS month_to_date
```

(`DATE_TRUNC` is PostgreSQL syntax; in MySQL you could partition by `YEAR(day), MONTH(day)` instead.) Specifying `ROWS BETWEEN ...` explicitly avoids surprises when there are duplicate dates, because the default frame is `RANGE`, which groups ties together.""")

add("code", "en", "Create a SQL schema for a blog with posts and comments, where comments belong to posts.", """\
```sql
CREATE TABLE posts (
    id          SERIAL PRIMARY KEY,
    title       VARCHAR(200) NOT NULL,
    body        TEXT         NOT NULL,
    author      VARCHAR(100) NOT NULL,
    published   BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE comments (
    id          SERIAL PRIMARY KEY,
    post_id     INTEGER      NOT NULL
                REFERENCES posts(id) ON DELETE CASCADE,
    author      VARCHAR(100) NOT NULL,
    body        TEXT         NOT NULL,
    created_at  TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX idx_comments_post_id ON comments(post_id);
```

`ON DELETE CASCADE` removes a post's comments automatically when the post is deleted. The index on `comments.post_id` keeps "load all comments for this post" fast. (`SERIAL` is PostgreSQL; in MySQL use `INT AUTO_INCREMENT`.)""")

add("code", "en", "Bash command to find all files larger than 100MB in my home directory?", """\
```bash
find ~ -type f -size +100M -exec ls -lh {} + 2>/dev/null | awk '{print $5, $9}'
```

Or, to list them sorted by size with human-readable sizes:

```bash
find ~ -type f -size +100M -print0 2>/dev/null \\
  | xargs -0 du -h \\
  | sort -rh \\
  | head -n 20
```

`-size +100M` matches files strictly larger than 100 MiB, `2>/dev/null` hides "Permission denied" noise, and `-print0`/`xargs -0` keeps filenames with spaces intact.""")

add("code", "en", "How do I rename all .txt files in a folder to .md using bash?", """\
```bash
for f in *.txt; do
    [ -e "$f" ] || continue          # skip if no .txt files exist
    mv -- "$f" "${f%.txt}.md"
done
```

`${f%.txt}` strips the `.txt` suffix from the filename, and `--` protects against filenames starting with a dash. Quoting `"$f"` keeps names with spaces working.

To preview first, replace `mv` with `echo mv`. If you have the Perl `rename` utility installed, `rename 's/\\.txt$/.md/' *.txt` does the same in one line.""")

add("code", "en", "Count total lines of code in all .py files recursively:", """\
```bash
find . -name '*.py' -not -path './.venv/*' -print0 | xargs -0 cat | wc -l
```

If you want a per-file breakdown as well as the total:

```bash
find . -name '*.py' -not -path './.venv/*' -print0 | xargs -0 wc -l | sort -n
```

For a more detailed report that separates code, comments and blank lines, tools like `cloc` or `tokei` are worth installing.""")

add("code", "en", "Write a bash script that backs up a directory into a timestamped tar.gz and keeps only the last 7 backups.", """\
```bash
#!/usr/bin/env bash
set -euo pipefail

SRC_DIR="${1:?Usage: $0 <source-dir> [backup-dir]}"
BACKUP_DIR="${2:-$HOME/backups}"
KEEP=7

mkdir -p "$BACKUP_DIR"

timestamp="$(date +%Y%m%d-%H%M%S)"
name="$(basename "$SRC_DIR")"
archive="$BACKUP_DIR/${name}-${timestamp}.tar.gz"

tar -czf "$archive" -C "$(dirname "$SRC_DIR")" "$name"
echo "Created $archive"

# Delete everything except the newest $KEEP backups for this directory
ls -1t "$BACKUP_DIR/${name}-"*.tar.gz | tail -n +$((KEEP + 1)) | while read -r old; do
    rm -- "$old"
    echo "Removed $old"
done
```

Save it as `backup.sh`, run `chmod +x backup.sh`, and call it like `./backup.sh ~/projects/site`. To run it nightly, add a cron entry such as:

```bash
0 2 * * * /home/you/bin/backup.sh /home/you/projects/site >> /home/you/backup.log 2>&1
```""")

add("code", "en", "What does `set -euo pipefail` do at the top of a bash script?", """\
It turns on three options that make scripts fail loudly instead of silently continuing after something goes wrong:

- `-e` (errexit): exit immediately if any command returns a non-zero status (with some exceptions, e.g. commands in `if` conditions or followed by `||`).
- `-u` (nounset): treat references to unset variables as an error. A typo like `$DIRECOTRY` stops the script instead of expanding to an empty string — which could otherwise turn `rm -rf "$DIRECOTRY/"` into `rm -rf /`.
- `-o pipefail`: a pipeline's exit status is that of the last command that failed, rather than only the last command. Without it, `curl bad-url | grep foo` can "succeed" even though `curl` failed.

Example:

```bash
#!/usr/bin/env bash
set -euo pipefail

echo "Using config: $CONFIG_PATH"   # aborts if CONFIG_PATH is unset
grep -q "enabled" "$CONFIG_PATH" | head -n 1
```

It's a good default for most scripts, but be aware of the edge cases — for instance, `((count++))` returns non-zero when `count` was 0 and will trigger `-e`.""")

add("code", "en", "How do I read a whole file into a String in Rust, with proper error handling?", """\
Use `std::fs::read_to_string` and propagate errors with `?`:

```rust
use std::fs;
use std::io;

fn load_config(path: &str) -> Result<String, io::Error> {
    let contents = fs::read_to_string(path)?;
    Ok(contents)
}

fn main() {
    match load_config("config.toml") {
        Ok(text) => println!("Read {} bytes", text.len()),
        Err(e) => eprintln!("Could not read config: {e}"),
    }
}
```

`?` returns early with the error if the read fails (file missing, permission denied, invalid UTF-8). In an application you might return `Box<dyn std::error::Error>` or use the `anyhow` crate from `main` so you can add context, e.g. `fs::read_to_string(path).with_context(|| format!("reading {path}"))?`.""")

add("code", "en", """\
Why won't this Rust code compile?

```rust
fn main() {
    let mut v = vec![1, 2, 3];
    let first = &v[0];
    v.push(4);
    println!("{}", first);
}
```

error[E0502]: cannot borrow `v` as mutable because it is also borrowed as immutable""", """\
`first` is an immutable reference into the vector's buffer. `v.push(4)` needs a mutable borrow of `v`, and it might reallocate the buffer to make room — which would leave `first` pointing at freed memory. Since you still use `first` in the `println!` afterwards, the two borrows overlap and the borrow checker rejects it.

Fixes, depending on what you need:

1. Use the reference before mutating:

```rust
let mut v = vec![1, 2, 3];
let first = &v[0];
println!("{}", first);
v.push(4); // fine: `first` is no longer used
```

2. Copy the value instead of borrowing it (cheap for `i32`):

```rust
let mut v = vec![1, 2, 3];
let first = v[0]; // i32 is Copy
v.push(4);
println!("{}", first);
```

This is exactly the kind of bug (iterator/reference invalidation) that causes crashes in C++, which Rust catches at compile time.""")

add("code", "en", "In Rust, how do I implement Display for a struct so I can print it with {}?", """\
Implement the `std::fmt::Display` trait:

```rust
use std::fmt;

struct Temperature {
    celsius: f64,
}

impl fmt::Display for Temperature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1}°C", self.celsius)
    }
}

fn main() {
    let t = Temperature { celsius: 21.456 };
    println!("It is {} outside", t); // It is 21.5°C outside
    let s = t.to_string();           // Display also gives you to_string()
    assert_eq!(s, "21.5°C");
}
```

For debugging output (`{:?}`) you'd usually just add `#[derive(Debug)]` instead of writing it by hand.""")

add("code", "en", "Rust: sum all even numbers in a Vec<i32>", """\
```rust
fn sum_even(nums: &[i32]) -> i32 {
    nums.iter().filter(|&&n| n % 2 == 0).sum()
}

fn main() {
    let v = vec![1, 2, 3, 4, 5, 6];
    println!("{}", sum_even(&v)); // 12
}
```

Taking `&[i32]` instead of `&Vec<i32>` lets the function accept arrays and slices too. The `|&&n|` pattern destructures the `&&i32` that `filter` receives (a reference to the iterator's `&i32` item).""")

add("code", "en", "When should I use Option vs Result in Rust?", """\
- **`Option<T>`** means "there may or may not be a value", and the absence isn't an error. Examples: looking up a key in a `HashMap`, `vec.first()`, parsing an optional field.
- **`Result<T, E>`** means "this operation can fail, and here's why". Examples: opening a file, parsing a number from user input, a network request.

```rust
use std::collections::HashMap;

fn find_age(people: &HashMap<String, u32>, name: &str) -> Option<u32> {
    people.get(name).copied()
}

fn parse_age(input: &str) -> Result<u32, std::num::ParseIntError> {
    input.trim().parse::<u32>()
}
```

They convert into each other easily: `opt.ok_or("missing")?` turns an `Option` into a `Result`, and `res.ok()` discards the error to get an `Option`. A rule of thumb: if the caller would want to know *why* nothing came back, use `Result`.""")

add("code", "en", "Python regex to extract all email addresses from a string", r'''Here's a practical pattern that covers the vast majority of real-world addresses:

```python
import re

EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")

text = """Contact sales@example.com or support@help.example.co.uk.
Old address: john.doe+news@mail-server.org (no longer monitored)."""

emails = EMAIL_RE.findall(text)
print(emails)
# ['sales@example.com', 'support@help.example.co.uk', 'john.doe+news@mail-server.org']
```

Don't try to write a regex that fully matches RFC 5322 — it's enormous and still doesn't tell you whether the mailbox exists. For validation, a simple pattern plus sending a confirmation email is the usual approach.''')

add("code", "en", "How do I undo my last git commit but keep the changes?", """\
```bash
git reset --soft HEAD~1
```

This moves the branch pointer back one commit and leaves all the changes from that commit staged, so you can edit and recommit.

Related variants:

```bash
git reset --mixed HEAD~1   # (default) keep changes, but unstaged
git reset --hard HEAD~1    # discard the commit AND its changes — careful!
```

If you've already pushed the commit to a shared branch, don't rewrite history; use `git revert HEAD` instead, which creates a new commit that undoes the previous one.""")

add("code", "en", "Fibonacci in Python but fast?", """\
The naive recursive version is exponential because it recomputes the same values again and again. Memoise it with `functools.lru_cache`:

```python
from functools import lru_cache


@lru_cache(maxsize=None)
def fib(n: int) -> int:
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


print(fib(100))  # 354224848179261915075
```

That's O(n). For very large n you'll hit the recursion limit, so an iterative version is more robust and uses O(1) memory:

```python
def fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
```""")

add("code", "en", "Python says TabError: inconsistent use of tabs and spaces in indentation. Here's my code:\n\ndef greet(name):\n    if name:\n\treturn f\"Hello, {name}\"\n    return \"Hello\"\n", """\
Line 3 is indented with a tab character, while the other lines use four spaces. Python 3 refuses to guess how wide a tab is supposed to be relative to spaces, so it raises `TabError`.

Re-indent everything with spaces (PEP 8 recommends 4 per level):

```python
def greet(name):
    if name:
        return f"Hello, {name}"
    return "Hello"
```

Note that the `return` inside the `if` also needs to be indented one level *deeper* than the `if`. To avoid this in the future, configure your editor to insert spaces when you press Tab (in VS Code: "Editor: Insert Spaces"), and run `python -m tabnanny yourfile.py` to find mixed indentation.""")

add("code", "en", "Sort an array of objects by a property in JavaScript (e.g. by age, then by name)", """\
```javascript
const people = [
  { name: "Zoe", age: 31 },
  { name: "Adam", age: 25 },
  { name: "Mia", age: 31 },
];

people.sort((a, b) => a.age - b.age || a.name.localeCompare(b.name));

console.log(people);
// [ { name: 'Adam', age: 25 }, { name: 'Mia', age: 31 }, { name: 'Zoe', age: 31 } ]
```

`a.age - b.age` is 0 for equal ages, so `||` falls through to the name comparison. `localeCompare` handles accents and case more sensibly than `<`. Note that `sort` mutates the array; use `[...people].sort(...)` or `people.toSorted(...)` (ES2023) to keep the original.""")

add("code", "en", "With pandas, how do I get the average salary per department, sorted descending?", """\
```python
import pandas as pd

df = pd.DataFrame({
    "name": ["Ana", "Ben", "Chloé", "Dev", "Eli"],
    "department": ["Sales", "IT", "IT", "Sales", "HR"],
    "salary": [52000, 71000, 68000, 49000, 55000],
})

avg = (
    df.groupby("department")["salary"]
      .mean()
      .sort_values(ascending=False)
      .round(0)
)
print(avg)
# department
# IT       69500.0
# HR       55000.0
# Sales    50500.0
# Name: salary, dtype: float64
```

If you want several statistics at once, use `.agg(["mean", "median", "count"])` instead of `.mean()`.""")

add("code", "en", "Write a Rust function that checks whether a string is a palindrome, ignoring case and non-alphanumeric characters.", """\
```rust
fn is_palindrome(s: &str) -> bool {
    let chars: Vec<char> = s
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect();
    chars.iter().eq(chars.iter().rev())
}

fn main() {
    assert!(is_palindrome("A man, a plan, a canal: Panama"));
    assert!(is_palindrome("No 'x' in Nixon"));
    assert!(!is_palindrome("Hello, world"));
    println!("all good");
}
```

Collecting into `Vec<char>` (instead of comparing bytes) keeps it correct for non-ASCII letters like "é". `to_lowercase` returns an iterator because some characters lowercase to more than one `char`, hence the `flat_map`.""")

add("code", "en", "What's the difference between let, const and var in JavaScript?", """\
| | `var` | `let` | `const` |
|---|---|---|---|
| Scope | function | block | block |
| Re-assignable | yes | yes | no |
| Hoisted | yes, initialised to `undefined` | yes, but in the "temporal dead zone" until declared | same as `let` |
| Redeclare in same scope | allowed | error | error |

```javascript
if (true) {
  var a = 1;
  let b = 2;
  const c = 3;
}
console.log(a); // 1
console.log(b); // ReferenceError: b is not defined
```

Note that `const` prevents *reassignment*, not mutation: `const arr = []; arr.push(1);` is fine. Modern practice: use `const` by default, `let` when you need to reassign, and avoid `var`.""")

add("code", "en", "Python: how do I read a large file line by line without loading it all into memory?", """\
Iterate over the file object directly — it yields one line at a time:

```python
with open("server.log", encoding="utf-8") as f:
    for line_no, line in enumerate(f, start=1):
        if "ERROR" in line:
            print(line_no, line.rstrip())
```

Memory use stays constant no matter how big the file is. Avoid `f.read()` and `f.readlines()` for huge files, since both load everything at once. For binary files or files without newlines, read fixed-size chunks with `f.read(65536)` in a loop instead.""")

# ---------------------------------------------------------------------------
# Lists and step-by-step answers
# ---------------------------------------------------------------------------

add("list", "en", "How do I change a flat tire?", """\
1. **Get somewhere safe.** Pull over on flat, solid ground well away from traffic, turn on your hazard lights and engage the parking brake.
2. **Get out the tools:** spare tire, jack, and lug wrench (check your owner's manual for where they're stored).
3. **Loosen the lug nuts** about half a turn each, counter-clockwise, while the wheel is still on the ground.
4. **Jack up the car** at the jacking point nearest the flat tire until the tire is about 5 cm off the ground. Never put any part of your body under the car.
5. **Remove the lug nuts and the flat tire.** Keep the nuts together so they don't roll away.
6. **Mount the spare**, lining up the holes with the wheel studs, and hand-tighten the lug nuts.
7. **Lower the car** until the tire touches the ground, then tighten the nuts fully in a star (criss-cross) pattern.
8. **Lower the car completely**, remove the jack, and give each nut one more firm tightening.
9. **Check the spare's pressure** as soon as you can. If it's a compact "donut" spare, don't exceed about 80 km/h (50 mph) and get the original tire repaired or replaced soon.""")

add("list", "en", "I want to start running but I'm completely out of shape. How should I begin?", """\
Great decision! The biggest mistake beginners make is doing too much too soon, so the plan below is built around walk–run intervals.

**Weeks 1–2**
Three sessions a week, on non-consecutive days. Warm up with a 5-minute brisk walk, then alternate 1 minute of easy jogging with 2 minutes of walking, 8 times.

**Weeks 3–4**
Jog 2 minutes, walk 2 minutes, 6 times. Keep the jogging slow enough that you could hold a conversation.

**Weeks 5–6**
Jog 4 minutes, walk 1–2 minutes, 4–5 times.

**Weeks 7–8**
Work up to 15–20 minutes of continuous easy running.

A few tips that matter more than the plan itself:

- **Go slower than you think.** If you can't speak in full sentences, slow down.
- **Get decent shoes.** A running shop can recommend a pair that suits your stride.
- **Rest days are part of training.** Your muscles, tendons and bones adapt while you recover.
- **Repeat a week if it felt hard.** There's no prize for finishing the plan on schedule.

If you have any heart, joint or other health concerns, check with a doctor before starting.""")

add("list", "en", "What are the pros and cons of working remotely?", """\
**Pros**
- No commute — more time and less money spent on travel.
- More flexibility to arrange your day around your life.
- Often fewer interruptions, which helps deep, focused work.
- Access to jobs regardless of where you live.
- Employers can hire from a wider talent pool and save on office space.

**Cons**
- Isolation and loneliness, especially for people who live alone.
- Blurred boundaries between work and home; it's easy to overwork.
- Harder spontaneous collaboration and mentoring, particularly for junior staff.
- More reliance on written communication, which can cause misunderstandings.
- You need a suitable workspace and reliable internet at home.

Many teams settle on a hybrid model to get some of the benefits of both.""")

add("list", "en", "Walk me through making pour-over coffee.", """\
You'll need a dripper (e.g. a V60 or Kalita), a paper filter, a kettle, a scale and fresh beans.

1. **Heat water** to about 92–96 °C (just off the boil).
2. **Weigh and grind** 15 g of coffee to a medium-fine grind, roughly like table salt.
3. **Rinse the filter** with hot water to remove paper taste and warm the dripper, then discard that water.
4. **Add the coffee**, shake it level, and zero the scale.
5. **Bloom:** pour about 30–40 g of water to wet all the grounds and wait 30–45 seconds. You'll see it bubble as CO₂ escapes.
6. **Pour slowly** in small circles, avoiding the very edge, until you reach 250 g of water total at about 1:45–2:00.
7. **Let it drain.** Total brew time should be around 2:30–3:30.

Taste and adjust: if it's sour or thin, grind finer; if it's bitter or harsh, grind coarser.""")

add("list", "en", "Give me some practical tips for sleeping better.", """\
- **Keep a consistent schedule.** Go to bed and wake up at the same time every day, including weekends.
- **Get morning daylight.** 10–20 minutes outside soon after waking helps set your body clock.
- **Cut caffeine after early afternoon.** Its half-life is around 5–6 hours.
- **Go easy on alcohol.** It may make you drowsy but it fragments sleep later in the night.
- **Make the bedroom dark, quiet and cool**, around 16–19 °C.
- **Dim screens and lights** for the last hour before bed.
- **Don't lie in bed awake for ages.** If you can't sleep after about 20 minutes, get up, do something calm in low light, and return when you feel sleepy.
- **Keep naps short** (under 30 minutes) and before 3 pm.

If you regularly snore loudly, wake up gasping, or feel exhausted despite enough hours in bed, talk to a doctor — it could be sleep apnoea or another treatable condition.""")

add("list", "en", "How should I structure a cover letter?", """\
A strong cover letter is usually 3–4 short paragraphs and fits on one page.

1. **Opening (2–3 sentences).** Name the role you're applying for and give a one-line hook: why you, why this company. Avoid "I am writing to apply for…" as your first words.

2. **Your most relevant experience (1–2 paragraphs).** Pick two or three accomplishments that map directly to the job description. Be specific and quantify where you can: "reduced customer response times by 35%" beats "improved customer service".

3. **Why this company.** Show you've done your homework — mention a product, value, or recent project and connect it to your own interests or skills.

4. **Closing.** Restate your enthusiasm, say you'd welcome the chance to talk, and thank them.

General tips:
- Address a real person if you can find the hiring manager's name.
- Don't repeat your CV line by line; tell the story behind it.
- Tailor each letter. Recruiters can spot a generic one instantly.""")

add("list", "en", "Make me a checklist for moving to a new apartment.", """\
**4–6 weeks before**
- [ ] Give notice to your current landlord and confirm your move-out date
- [ ] Book movers or a van
- [ ] Start decluttering: sell, donate or throw away what you don't need
- [ ] Collect boxes, tape, markers and bubble wrap

**2–3 weeks before**
- [ ] Set up internet and utilities at the new place
- [ ] Update your address with your bank, employer, doctor and subscriptions
- [ ] Arrange mail forwarding
- [ ] Start packing rooms you use least

**Moving week**
- [ ] Pack a "first night" bag: chargers, toiletries, medication, a change of clothes, toilet paper, snacks
- [ ] Defrost the freezer
- [ ] Take photos of the old apartment after cleaning (for your deposit)
- [ ] Take meter readings in both places

**After the move**
- [ ] Check for damage and report it to the new landlord in writing
- [ ] Find the fuse box and water shut-off valve
- [ ] Register with local services if required
- [ ] Meet the neighbours 👋""")

add("list", "en", "How do I set up a freshwater aquarium for the first time?", """\
1. **Choose the tank and spot.** Bigger (60 litres or more) is actually easier for beginners, because water conditions change more slowly. Put it somewhere sturdy, out of direct sunlight, near a power outlet.
2. **Add substrate and decorations.** Rinse gravel or sand thoroughly, then add rocks, wood and plants.
3. **Install the equipment:** a filter sized for your tank, a heater (for tropical fish) and a light.
4. **Fill with water** and add a dechlorinator to remove chlorine and chloramine.
5. **Cycle the tank — the most important step.** Beneficial bacteria need to grow in the filter to convert toxic ammonia into nitrite and then into much less harmful nitrate. Add a small ammonia source (or a bottled bacteria starter), and test the water every few days. This usually takes 3–6 weeks. The tank is cycled when ammonia and nitrite both read 0 and nitrate is present.
6. **Add fish slowly.** Start with a few hardy species and add more over several weeks.
7. **Maintain it:** feed lightly, change 20–25% of the water weekly, and rinse the filter media in old tank water (not tap water) when it gets clogged.""")

add("list", "en", "What are some easy ways to reduce food waste at home?", """\
- Plan meals for the week and shop with a list.
- Check what's already in the fridge before you go shopping.
- Store food properly: herbs in water, bread in the freezer, apples away from other fruit.
- Use the "first in, first out" rule — move older items to the front.
- Understand dates: "best before" is about quality, "use by" is about safety.
- Cook with leftovers: fried rice, frittatas, soups and smoothies are great for odds and ends.
- Freeze portions of meals, overripe bananas and bread before they go off.
- Compost what you can't eat, such as peels, coffee grounds and eggshells.""")

add("list", "en", "Steps to repot a houseplant?", """\
1. Pick a new pot 2–5 cm wider than the old one, with a drainage hole.
2. Water the plant a day before so the root ball holds together.
3. Put a layer of fresh potting mix in the bottom of the new pot.
4. Turn the old pot on its side, support the base of the stems, and gently slide the plant out. Squeeze or tap the pot if it's stuck.
5. Loosen circling roots with your fingers and trim any that are black or mushy.
6. Set the plant in the new pot so the top of the root ball sits about 2 cm below the rim.
7. Fill around it with potting mix, pressing lightly to remove air pockets — don't pack it hard.
8. Water thoroughly and let it drain.
9. Keep it out of strong direct sun for a week while it recovers.

Spring is the best time, when the plant is actively growing.""")

add("list", "en", "What study techniques actually work for exams?", """\
Research on learning consistently backs a handful of techniques:

1. **Active recall.** Close the book and try to retrieve the information: flashcards, practice questions, or writing everything you remember on a blank page. It feels harder than rereading, and that's why it works.

2. **Spaced repetition.** Review material over increasing intervals (e.g. after 1 day, 3 days, a week) rather than cramming it all the night before. Apps like Anki automate this.

3. **Interleaving.** Mix different types of problems in one session instead of doing 20 of the same kind in a row. It trains you to pick the right method, which is what the exam actually tests.

4. **Elaboration.** Explain *why* and *how* things work, and connect new ideas to what you already know.

5. **Practice under exam conditions.** Do past papers with a timer.

What works poorly: rereading, highlighting, and passive summarising. They create a feeling of familiarity without much actual learning.

And don't sacrifice sleep — memory consolidation happens while you sleep.""")

add("list", "en", "Give me step-by-step instructions for a simple white bread loaf.", """\
**Ingredients:** 500 g strong white flour, 7 g instant yeast, 10 g salt, 1 tbsp sugar, 2 tbsp olive oil or soft butter, about 320 ml lukewarm water.

1. **Mix.** Combine the flour, yeast, sugar and salt in a large bowl (keep the salt and yeast apart at first). Add the oil and most of the water and mix into a shaggy dough, adding the rest of the water if it's dry.
2. **Knead** on a lightly floured surface for about 10 minutes, until smooth and stretchy. It should spring back when you poke it.
3. **First rise.** Put it in an oiled bowl, cover, and leave somewhere warm for 1–1½ hours, until doubled in size.
4. **Shape.** Knock it back, flatten into a rectangle, roll up tightly, and place seam-side down in a greased 900 g (2 lb) loaf tin.
5. **Second rise.** Cover and leave for 45–60 minutes, until it rises just above the rim of the tin.
6. **Bake** at 220 °C (200 °C fan) for 30–35 minutes. It's done when it's deep golden and sounds hollow when you tap the bottom.
7. **Cool** on a wire rack for at least an hour before slicing — it's still cooking inside.""")

add("list", "en", "What should I check before buying a used car?", """\
**Paperwork**
- Service history and receipts
- Vehicle history report (accidents, outstanding finance, mileage discrepancies)
- The VIN on the documents matches the car
- Number of previous owners

**Exterior**
- Uneven panel gaps or mismatched paint (signs of accident repair)
- Rust, especially on wheel arches, sills and underneath
- Tyre tread depth and uneven wear (can point to alignment problems)

**Under the bonnet**
- Oil level and colour; milky residue under the oil cap can mean a head gasket problem
- Leaks, cracked hoses, corroded battery terminals

**Interior**
- All electrics work: windows, lights, air con, infotainment
- Warning lights come on at ignition and then go off
- Wear on pedals and steering wheel is consistent with the mileage

**Test drive**
- Start it from cold
- Listen for knocks, whines or clunks; check that it brakes straight and the gearbox shifts smoothly

If you're not confident, pay for an independent inspection — it's cheap compared with a bad purchase.""")

add("list", "en", "How do I give constructive feedback to a colleague without it turning awkward?", """\
A simple structure that works well:

1. **Ask first.** "Do you have a few minutes? I had some thoughts on the presentation." People take feedback better when they're not ambushed.
2. **Describe the specific behaviour**, not the person. "In the client meeting, the budget slide came up before we'd explained the problem" rather than "You're disorganised."
3. **Explain the impact.** "I think the client got stuck on the numbers and missed the main point."
4. **Suggest or ask for a way forward.** "What if we open with the problem next time?" or "How do you see it?"
5. **Listen.** There may be context you don't have.

Other tips:
- Do it soon after the event, and in private.
- Keep the ratio of positive to critical feedback healthy in general, but don't sandwich criticism between fake compliments — people see through it.
- Focus on one or two points rather than a long list.""")

add("list", "en", "Help me make a monthly budget. Where do I start?", """\
1. **Work out your monthly take-home income** (after tax). If it varies, use the average of your lowest few months.

2. **List fixed expenses:** rent or mortgage, utilities, insurance, loan payments, subscriptions, transport passes.

3. **Track variable spending for a month**: groceries, eating out, fuel, shopping, entertainment. Your bank app's categories help, but check them.

4. **Pick a framework.** A popular starting point is 50/30/20:
   - 50% needs
   - 30% wants
   - 20% savings and extra debt repayment

5. **Set a target for each category** and write it down, in a spreadsheet or a budgeting app.

6. **Pay yourself first.** Set up an automatic transfer to savings on payday.

7. **Build an emergency fund**, aiming at 3–6 months of essential expenses.

8. **Review monthly.** Budgets are never perfect at first; adjust categories based on what actually happened.""")

add("list", "en", "It's raining all weekend and I have two kids (6 and 9). Ideas? ☔", """\
Here are some ideas that don't involve screens all day:

- 🏰 **Blanket fort** — add torches and read stories inside.
- 🧪 **Kitchen science:** baking soda + vinegar volcano, or make slime with glue and contact lens solution.
- 🍪 **Bake together** — cookies or pizza where they choose the toppings.
- 🎭 **Put on a show.** The 9-year-old writes the script, the 6-year-old makes the tickets.
- 🧩 **Board game tournament** with a homemade trophy.
- 🗺️ **Treasure hunt** with written clues hidden around the house (adjust the difficulty for each kid).
- 🎨 **Cardboard box city:** collect boxes and build a town with roads drawn on paper.
- 📦 **Indoor obstacle course** with cushions, chairs and a timer.
- 🌧️ **Puddle walk** in wellies and raincoats — sometimes the rain *is* the activity!

Finish with a movie night and popcorn on Sunday evening.""")

add("list", "en", "How do I clean and re-season a rusty cast iron pan?", """\
1. **Scrub off the rust** with steel wool and a little warm soapy water until you're down to bare grey metal. (Soap is fine at this stage; you're starting over anyway.)
2. **Rinse and dry immediately** with a towel, then put it on the stove over low heat for a few minutes to drive off all moisture.
3. **Apply a very thin layer of oil** — vegetable oil, canola, or shortening — all over, inside and out, including the handle. Then wipe it off as if you made a mistake; what's left should look almost dry. Too much oil leaves a sticky finish.
4. **Bake it upside down** at 230–250 °C (450–480 °F) for one hour, with foil on the rack below to catch drips.
5. **Let it cool in the oven.**
6. **Repeat steps 3–5** two or three more times for a durable seasoning.

Day to day: rinse with hot water and a brush, dry it on the stove, and rub in a few drops of oil before putting it away.""")

add("list", "en", "Outline a five-paragraph essay arguing that cities should invest in cycling infrastructure.", """\
**I. Introduction**
- Hook: a statistic about urban traffic congestion or transport emissions.
- Context: many cities are designed around cars.
- Thesis: cities should invest in protected cycling infrastructure because it improves public health, reduces congestion and emissions, and is economically efficient.

**II. Body paragraph 1 — Public health**
- Regular cycling reduces risk of heart disease, obesity and diabetes.
- Protected lanes reduce injuries, not just for cyclists.
- Example: health outcomes in Copenhagen or the Netherlands.

**III. Body paragraph 2 — Congestion and environment**
- A bike lane moves more people per metre of road width than a car lane.
- Lower emissions and air pollution; less noise.
- Example: traffic changes in Paris after expanding bike lanes.

**IV. Body paragraph 3 — Economics**
- Bike lanes cost far less per kilometre than roads or rail.
- Local businesses often see more foot traffic.
- Counterargument and rebuttal: "Nobody cycles here" — induced demand works for bikes too; safe infrastructure creates riders.

**V. Conclusion**
- Restate the thesis in new words.
- Summarise the three arguments.
- Call to action: prioritise a connected network, not isolated painted lanes.""")

add("list", "en", "List the key events of the French Revolution in order.", """\
- **May 1789** – The Estates-General meets at Versailles for the first time since 1614.
- **20 June 1789** – Tennis Court Oath: the Third Estate, now the National Assembly, vows not to disband until France has a constitution.
- **14 July 1789** – Storming of the Bastille.
- **26 August 1789** – Declaration of the Rights of Man and of the Citizen.
- **October 1789** – Women's March on Versailles; the royal family is forced to move to Paris.
- **June 1791** – Flight to Varennes: Louis XVI tries to escape and is caught.
- **April 1792** – France declares war on Austria.
- **10 August 1792** – Storming of the Tuileries; the monarchy is suspended.
- **September 1792** – The National Convention abolishes the monarchy and declares the Republic.
- **21 January 1793** – Louis XVI is executed.
- **1793–1794** – The Reign of Terror under the Committee of Public Safety.
- **27–28 July 1794** – Thermidorian Reaction: Robespierre is overthrown and executed.
- **1795** – The Directory takes power.
- **9 November 1799** – Coup of 18 Brumaire: Napoleon Bonaparte seizes power, usually taken as the end of the Revolution.""")

add("list", "en", "Give three synonyms for 'happy':", "Joyful, content, cheerful.")

add("list", "en", "What are the main differences between a crocodile and an alligator?", """\
- **Snout shape:** alligators have a wide, U-shaped snout; crocodiles have a narrower, V-shaped one.
- **Teeth:** when an alligator closes its mouth, the lower teeth are mostly hidden. A crocodile's large fourth lower tooth sticks out visibly, giving a "toothy grin".
- **Colour:** alligators tend to be darker (blackish-grey); crocodiles are usually lighter, olive or tan.
- **Habitat:** alligators prefer fresh water. Crocodiles have salt glands and tolerate salt water, so they're found in estuaries and coasts.
- **Range:** alligators live only in the southeastern United States and in China. Crocodiles are found across Africa, Asia, Australia and the Americas.
- **Temperament:** crocodiles, especially saltwater and Nile crocodiles, are generally considered more aggressive.""")

# ---------------------------------------------------------------------------
# Very short answers
# ---------------------------------------------------------------------------

add("short", "en", "What is the capital of France?", "Paris.")
add("short", "en", "What is 2 + 2?", "4")
add("short", "en", "Chemical symbol for gold?", "Au")
add("short", "en", "Is a tomato botanically a fruit or a vegetable? Answer in one word.", "Fruit.")
add("short", "en", "Spell 'necessary' backwards.", "yrassecen")
add("short", "en", "How many continents are there? ", "Seven.")
add("short", "en", "Antonym of 'ancient':", "Modern.")
add("short", "en", "In what year did humans first land on the Moon?", "1969.")
add("short", "en", "Who painted the Mona Lisa?", "Leonardo da Vinci.")
add("short", "en", "Largest planet in the solar system?", "Jupiter.")
add("short", "en", "What is 12 × 12?", "144")
add("short", "en", "True or false: the Great Wall of China is visible from the Moon with the naked eye.", "False.")
add("short", "en", "√81 = ?", "9")
add("short", "en", "Translate 'thank you' into Spanish.", "Gracias.")
add("short", "en", "What's the fastest land animal?", "The cheetah.")
add("short", "en", "Which is bigger, 0.3 or 0.25?", "0.3")
add("short", "en", "What is the plural of 'mouse' (the animal)?", "Mice.")
add("short", "en", "How many sides does a hexagon have?", "6")
add("short", "en", "Is 97 a prime number? Yes or no.", "Yes.")
add("short", "en", "Complete the sequence: 2, 4, 8, 16, …", "32")

# ---------------------------------------------------------------------------
# Non-English records
# ---------------------------------------------------------------------------

# German
add("general", "de", "Wie koche ich eine echte Spaghetti Carbonara?", """\
Für 2 Personen brauchst du: 200 g Spaghetti, 100 g Guanciale (oder Pancetta), 2 Eigelb plus 1 ganzes Ei, 50 g frisch geriebenen Pecorino Romano und schwarzen Pfeffer. Sahne gehört in das Originalrezept nicht hinein!

1. Guanciale in Streifen schneiden und in einer Pfanne ohne Öl bei mittlerer Hitze knusprig auslassen. Die Pfanne vom Herd nehmen.
2. Eigelbe, Ei und Pecorino in einer Schüssel verrühren und kräftig pfeffern.
3. Spaghetti in gut gesalzenem Wasser al dente kochen. Eine Tasse Nudelwasser aufheben.
4. Die Nudeln direkt in die Pfanne zum Guanciale geben und gut vermengen.
5. Jetzt der wichtigste Schritt: Die Pfanne darf nicht mehr auf der heißen Platte stehen. Die Eiermischung unterrühren und nach und nach etwas Nudelwasser dazugeben, bis eine cremige Soße entsteht. Ist es zu heiß, stockt das Ei und du hast Rührei.

Sofort servieren, mit etwas extra Pecorino und Pfeffer. Buon appetito!""")

add("general", "de", "Was ist der Unterschied zwischen „seit“ und „seid“?", """\
- **seit** ist eine Präposition oder Konjunktion und bezieht sich auf die Zeit: *Ich wohne seit drei Jahren in Berlin.*
- **seid** ist eine Form des Verbs „sein“ (2. Person Plural): *Ihr seid heute aber früh dran!*

Eselsbrücke: Wenn du „ihr“ davorsetzen kannst, schreibst du es mit **d**. Geht es um Zeit, dann mit **t** – wie in „Zei**t**“.""")

add("general", "de", "Schreibe eine kurze, höfliche E-Mail an meinen Vermieter, weil die Heizung seit zwei Tagen nicht funktioniert.", """\
Betreff: Defekte Heizung in Wohnung 3B

Sehr geehrte Frau Schneider,

leider funktioniert die Heizung in meiner Wohnung (Lindenstraße 12, 3. OG links) seit Montag nicht mehr. Alle Heizkörper bleiben kalt, obwohl die Thermostate voll aufgedreht sind.

Da die Temperaturen nachts derzeit unter null Grad liegen, wäre ich Ihnen sehr dankbar, wenn Sie möglichst bald einen Handwerker beauftragen könnten. Ich bin werktags ab 16 Uhr zu Hause; nach Absprache kann ich auch vormittags da sein.

Vielen Dank im Voraus für Ihre Unterstützung.

Mit freundlichen Grüßen
Jonas Weber
Tel.: 0176 12345678""")

add("short", "de", "Wann fiel die Berliner Mauer?", "Am 9. November 1989.")

add("general", "de", "Erkläre kurz, was ein Algorithmus ist.", """\
Ein Algorithmus ist eine eindeutige, endliche Folge von Anweisungen, mit der man ein bestimmtes Problem löst. Man kann ihn sich wie ein Kochrezept vorstellen: Es gibt Eingaben (die Zutaten), klar definierte Schritte und am Ende ein Ergebnis.

Ein einfaches Beispiel ist das Finden der größten Zahl in einer Liste: Man merkt sich die erste Zahl, geht dann alle weiteren Zahlen durch und ersetzt den gemerkten Wert immer dann, wenn man eine größere findet. Nach dem letzten Element hat man das Maximum.

In der Informatik werden Algorithmen in Programmiersprachen umgesetzt, damit ein Computer sie ausführen kann. Wichtige Eigenschaften sind, dass sie korrekt sind, nach endlich vielen Schritten anhalten und möglichst effizient arbeiten.""")

add("list", "de", "Gib mir fünf Tipps, wie ich beim Einkaufen Geld sparen kann.", """\
1. **Mit Einkaufsliste gehen** und sich daran halten – das verhindert Spontankäufe.
2. **Nicht hungrig einkaufen.** Wer Hunger hat, kauft nachweislich mehr.
3. **Eigenmarken wählen.** Sie sind oft deutlich günstiger und qualitativ kaum schlechter.
4. **Grundpreis vergleichen** (Preis pro Kilo oder Liter), statt nur auf den Packungspreis zu achten.
5. **Saisonal und regional kaufen.** Obst und Gemüse der Saison sind meist billiger und schmecken besser.

Bonus-Tipp: Reste einplanen und einfrieren, statt sie wegzuwerfen. 🥕""")

# French
add("short", "fr", "Quelle est la capitale de l'Australie ?", "Canberra.")

add("general", "fr", "Comment faire une pâte à crêpes ?", """\
Pour une douzaine de crêpes :

- 250 g de farine
- 4 œufs
- 50 cl de lait
- 1 pincée de sel
- 2 cuillères à soupe de sucre (pour des crêpes sucrées)
- 50 g de beurre fondu

1. Mettez la farine dans un saladier et creusez un puits au centre.
2. Ajoutez les œufs, le sel et le sucre, puis mélangez au fouet en incorporant la farine petit à petit.
3. Versez le lait progressivement tout en fouettant pour éviter les grumeaux.
4. Ajoutez le beurre fondu.
5. Laissez reposer la pâte au moins 1 heure à température ambiante.

Faites cuire dans une poêle bien chaude et légèrement beurrée, environ 1 minute de chaque côté. Bonne dégustation ! 🥞""")

add("general", "fr", "Explique la différence entre « tu » et « vous ».", """\
« Tu » et « vous » signifient tous les deux « you » en anglais, mais ils ne s'utilisent pas dans les mêmes situations.

- **Tu** est la forme familière, au singulier. On l'utilise avec la famille, les amis, les enfants, les animaux, et souvent entre collègues du même âge.
- **Vous** a deux usages : c'est la forme de politesse au singulier (avec un inconnu, un supérieur, une personne plus âgée, un commerçant) et c'est aussi le pluriel normal, qu'on parle à des amis ou à des inconnus.

En cas de doute, commencez par « vous » : c'est l'autre personne qui proposera souvent de passer au « tu » (« On peut se tutoyer ? »).""")

add("general", "fr", "Résume la Révolution française en trois phrases.", """\
En 1789, une grave crise financière et les inégalités de la société d'Ancien Régime poussent les députés du Tiers état à se proclamer Assemblée nationale, tandis que le peuple parisien prend la Bastille le 14 juillet. La monarchie absolue est abolie, la Déclaration des droits de l'homme et du citoyen est adoptée, puis la République est proclamée en 1792 et Louis XVI est exécuté en 1793. Après la Terreur et plusieurs régimes instables, Napoléon Bonaparte prend le pouvoir en 1799, mettant fin à la période révolutionnaire.""")

add("code", "fr", "Écris une fonction Python qui vérifie si un mot est un palindrome.", """\
Voici une version simple qui ignore la casse, les espaces et les accents :

```python
import unicodedata


def est_palindrome(texte: str) -> bool:
    # Supprime les accents : « é » devient « e »
    sans_accents = unicodedata.normalize("NFD", texte)
    sans_accents = "".join(c for c in sans_accents if unicodedata.category(c) != "Mn")
    # Ne garde que les lettres et les chiffres, en minuscules
    propre = [c.lower() for c in sans_accents if c.isalnum()]
    return propre == propre[::-1]


print(est_palindrome("Radar"))                     # True
print(est_palindrome("Ésope reste ici et se repose"))  # True
print(est_palindrome("Bonjour"))                   # False
```

La normalisation `NFD` sépare chaque lettre accentuée en une lettre de base suivie d'un accent combinant, qu'on filtre ensuite.""")

add("general", "fr", "Quels sont les avantages du vélo pour aller au travail ?", """\
- **Santé :** 30 minutes de vélo par jour améliorent le cœur, l'endurance et le moral.
- **Économies :** pas d'essence, pas de parking, et un entretien peu coûteux.
- **Temps :** en ville, sur des trajets de moins de 5 km, le vélo est souvent plus rapide que la voiture.
- **Environnement :** aucune émission de CO₂ pendant le trajet et moins de bruit.
- **Fiabilité :** pas d'embouteillages ni de grève des transports.

Seuls inconvénients : la météo et parfois la possibilité de se changer ou de se doucher au bureau. Un bon imperméable et des sacoches règlent une bonne partie du problème ! 🚲""")

# Spanish
add("general", "es", "¿Cuál es la diferencia entre 'ser' y 'estar'?", """\
Ambos verbos significan "to be" en inglés, pero se usan de forma distinta:

**Ser** se usa para características más permanentes o esenciales:
- Identidad y origen: *Soy Ana. Soy de México.*
- Profesión: *Mi hermano es médico.*
- Descripción de la personalidad o aspecto: *Ella es alta y simpática.*
- La hora y las fechas: *Son las tres. Hoy es lunes.*

**Estar** se usa para estados temporales y ubicación:
- Estados de ánimo o físicos: *Estoy cansado. Estás muy guapa hoy.*
- Ubicación: *El museo está en el centro.*
- Acciones en progreso: *Estamos comiendo.*

Fíjate cómo cambia el significado: *Es aburrido* (es una persona aburrida) frente a *Está aburrido* (se siente aburrido ahora mismo).""")

add("general", "es", "Dame una receta sencilla de gazpacho.", """\
**Ingredientes (4 personas):**
- 1 kg de tomates maduros
- 1 pimiento verde
- 1 pepino pequeño
- 1 diente de ajo
- 50 g de pan del día anterior
- 60 ml de aceite de oliva virgen extra
- 2 cucharadas de vinagre de Jerez
- Sal al gusto

**Preparación:**
1. Lava y trocea las verduras. Pela el pepino y quita las semillas al pimiento.
2. Remoja el pan en un poco de agua.
3. Tritura todo junto con la batidora hasta que quede muy fino.
4. Añade el aceite poco a poco mientras sigues batiendo, y después el vinagre y la sal.
5. Cuela si lo prefieres más fino y refrigera al menos 2 horas.

Sírvelo muy frío, con daditos de pepino, pimiento y pan tostado por encima. ¡Ideal para el verano! 🍅""")

add("general", "es", "¿Por qué ronronean los gatos? 🐈", """\
Los gatos ronronean por varias razones, y no siempre es porque estén contentos:

- **Bienestar:** la razón más conocida. Un gato relajado en tu regazo suele ronronear.
- **Comunicación:** las crías ronronean para que la madre sepa que están bien mientras maman, y los adultos lo usan para pedir comida o atención.
- **Autocalmarse:** muchos gatos ronronean cuando están estresados, enfermos o heridos.
- **Posible efecto curativo:** el ronroneo vibra entre unos 25 y 150 Hz, y algunos investigadores creen que esas frecuencias podrían ayudar a regenerar huesos y tejidos.

El sonido se produce cuando los músculos de la laringe abren y cierran rápidamente las cuerdas vocales al respirar, tanto al inhalar como al exhalar. 😺""")

add("general", "es", "Escribe un correo breve para pedir un día libre en el trabajo el viernes que viene.", """\
Asunto: Solicitud de día libre – viernes 14

Hola, Laura:

Te escribo para pedirte el viernes 14 como día libre, con cargo a mis vacaciones, por un asunto personal.

Dejaré terminadas las tareas pendientes el jueves y Marcos ha confirmado que puede cubrir las llamadas de clientes ese día. Si surge algo urgente, podré revisar el correo por la tarde.

Quedo a la espera de tu confirmación. ¡Muchas gracias!

Un saludo,
Daniel""")

add("short", "es", "¿Cuántos planetas hay en el sistema solar?", "Ocho.")

add("code", "es", "¿Cómo puedo contar cuántas veces aparece cada palabra en una cadena en JavaScript?", """\
Puedes usar un objeto o un `Map` como contador:

```javascript
function contarPalabras(texto) {
  const conteo = new Map();
  const palabras = texto
    .toLowerCase()
    .match(/[\\p{L}\\p{N}]+/gu) || [];

  for (const palabra of palabras) {
    conteo.set(palabra, (conteo.get(palabra) || 0) + 1);
  }
  return conteo;
}

const resultado = contarPalabras("El perro y el gato. ¡El perro ladra!");
console.log(resultado);
// Map(5) { 'el' => 3, 'perro' => 2, 'y' => 1, 'gato' => 1, 'ladra' => 1 }
```

La expresión regular con `\\p{L}` y la bandera `u` reconoce letras con tilde y la ñ, algo que `\\w` no hace.""")

# Chinese
add("general", "zh", "请解释什么是机器学习。", """\
机器学习是人工智能的一个分支，它让计算机通过数据自动"学习"规律，而不需要人为地为每种情况编写明确的规则。

举个例子：如果要让程序识别垃圾邮件，传统方法需要程序员写出大量规则（比如"包含'中奖'就是垃圾邮件"）。而机器学习的方法是给模型提供成千上万封已经标注好的邮件，让它自己找出垃圾邮件的特征。

机器学习主要分为三类：

1. **监督学习**：训练数据带有标签，例如房价预测、图像分类。
2. **无监督学习**：数据没有标签，模型自己发现结构，例如客户分群。
3. **强化学习**：模型通过与环境互动、获得奖励或惩罚来学习，例如下围棋的 AlphaGo。

如今，推荐系统、语音识别、机器翻译等很多日常应用背后都有机器学习的身影。""")

add("general", "zh", "番茄炒蛋怎么做？", """\
**材料：** 番茄 2 个、鸡蛋 3 个、葱 1 根、盐、糖、食用油。

**做法：**
1. 番茄洗净切块，葱切成葱花。鸡蛋打散，加少许盐搅匀。
2. 锅中倒油烧热，倒入蛋液，待边缘凝固后轻轻翻炒，炒到八成熟盛出备用。
3. 锅里再加一点油，放入番茄块翻炒，炒出汁水。
4. 加半小勺盐和一小勺糖调味（糖可以中和番茄的酸味）。
5. 倒回炒好的鸡蛋，翻炒均匀，撒上葱花即可出锅。

小贴士：喜欢汤汁多一点的话，可以在炒番茄时加两勺清水，拌饭特别香！🍅🥚""")

add("code", "zh", "用Python写一个计算阶乘的函数。", """\
可以用循环实现，也可以用递归实现：

```python
def factorial(n: int) -> int:
    if n < 0:
        raise ValueError("n 必须是非负整数")
    result = 1
    for i in range(2, n + 1):
        result *= i
    return result


def factorial_recursive(n: int) -> int:
    if n < 0:
        raise ValueError("n 必须是非负整数")
    return 1 if n <= 1 else n * factorial_recursive(n - 1)


print(factorial(5))            # 120
print(factorial_recursive(10)) # 3628800
```

实际开发中，直接使用标准库的 `math.factorial(n)` 最简单，也最快。递归版本在 n 很大时可能会超过 Python 的最大递归深度（默认约 1000）。""")

add("general", "zh", "长城有多长？", """\
根据中国国家文物局 2012 年公布的调查结果，历代长城的总长度为 **21,196.18 公里**。其中人们最常游览的明长城长约 8,851.8 公里，东起辽宁虎山，西至甘肃嘉峪关。

需要注意的是，长城并不是一道连续的墙，而是由不同朝代修建的城墙、壕堑、关隘和烽火台组成的防御体系。""")

add("list", "zh", "给我三个提高工作效率的建议。", """\
1. **先做最重要的事。** 每天早上列出当天最重要的一到三件任务，在精力最好的时候优先完成，而不是先处理邮件和消息。
2. **使用番茄工作法。** 专注工作 25 分钟，休息 5 分钟，每四个循环后休息得长一点。这能减少拖延，也能防止疲劳。
3. **减少干扰。** 工作时关闭不必要的通知，把手机放在视线之外，并集中在固定时间回复消息。

坚持一两周，你会明显感觉到效率的提升。💪""")

add("short", "zh", "水的化学式是什么？", "H₂O。")

# Japanese
add("short", "ja", "日本の首都はどこですか？", "東京です。")

add("list", "ja", "京都でおすすめの観光スポットを教えてください。", """\
京都には見どころがたくさんありますが、初めての方には次の場所がおすすめです。

- **伏見稲荷大社**：何千もの朱色の鳥居が続く「千本鳥居」が有名です。早朝に行くと比較的空いています。
- **清水寺**：「清水の舞台」からの眺めは格別です。周辺の二年坂・三年坂の散策も楽しめます。
- **金閣寺（鹿苑寺）**：池に映る金色の舎利殿はとても美しいです。
- **嵐山**：竹林の小径や渡月橋が人気です。トロッコ列車もおすすめです。
- **祇園**：夕方に歩くと、運が良ければ舞妓さんに出会えるかもしれません。

春の桜や秋の紅葉の時期は特に混雑するので、宿は早めに予約しましょう。🍁""")

add("general", "ja", "「ありがとう」をもっと丁寧に言うには？", """\
場面によって使い分けます。

- **ありがとうございます**：一般的な丁寧な言い方です。目上の人にも使えます。
- **ありがとうございました**：すでに終わったことに対するお礼に使います。
- **誠にありがとうございます**：ビジネスやフォーマルな場面で、より改まった言い方です。
- **恐れ入ります**：相手に手間をかけたときなどに、感謝と恐縮の気持ちを表します。
- **感謝申し上げます**：主に手紙やメール、スピーチで使う、非常に丁寧な表現です。""")

add("general", "ja", "味噌汁の作り方を教えて。", """\
**材料（2人分）**
- 水 400ml
- だしの素 小さじ1（または昆布とかつお節でとっただし）
- 味噌 大さじ2
- 豆腐 1/2丁
- 乾燥わかめ 小さじ1
- 長ねぎ 少々

**作り方**
1. 鍋に水とだしの素を入れて火にかけます。
2. 沸騰したら、さいの目に切った豆腐とわかめを入れます。
3. 再び温まったら火を弱め、味噌をお玉の中で溶きながら加えます。
4. 味噌を入れた後は沸騰させないのがポイントです。風味が飛んでしまいます。
5. 器に盛り、刻んだ長ねぎをのせて完成です。""")

add("code", "ja", "再帰とは何ですか？簡単に説明してください。", """\
再帰（さいき）とは、関数が自分自身を呼び出すプログラミングの手法です。大きな問題を、同じ形をした小さな問題に分けて解くときに使います。

再帰関数には必ず次の2つが必要です。

1. **基底条件**：これ以上分けずに答えを返す条件（これがないと無限に呼び出してしまいます）。
2. **再帰ステップ**：問題を小さくして自分自身を呼び出す部分。

例えば、1からnまでの合計を求める関数は次のように書けます。

```python
def total(n):
    if n == 0:          # 基底条件
        return 0
    return n + total(n - 1)  # 再帰ステップ

print(total(5))  # 15
```

フォルダの中身をすべてたどる処理や、木構造の探索などでよく使われます。""")

add("short", "ja", "富士山の高さは？", "3,776メートルです。")

# Russian
add("general", "ru", "Почему небо голубое?", """\
Небо кажется голубым из-за рэлеевского рассеяния. Солнечный свет состоит из всех цветов радуги. Проходя через атмосферу, он сталкивается с молекулами азота и кислорода, которые намного меньше длины волны света. Такие молекулы рассеивают коротковолновый (синий и фиолетовый) свет гораздо сильнее, чем длинноволновый (красный и оранжевый).

Поэтому синий свет рассеивается по всему небу и попадает в глаза со всех сторон. Фиолетового света рассеивается ещё больше, но Солнце излучает его меньше, а наши глаза к нему менее чувствительны, — в итоге мы видим небо голубым.

На закате свет проходит через гораздо более толстый слой воздуха, синие лучи рассеиваются по дороге, и до нас доходят в основном красные и оранжевые.""")

add("general", "ru", "Как приготовить классический борщ?", """\
**Ингредиенты (на 3-литровую кастрюлю):**
- 500 г говядины на косточке
- 2 свёклы
- 3–4 картофелины
- ¼ кочана капусты
- 1 морковь, 1 луковица
- 2 ст. л. томатной пасты
- 1 ст. л. уксуса или сок половины лимона
- 2 зубчика чеснока, лавровый лист, соль, перец
- сметана и зелень для подачи

**Приготовление:**
1. Сварите бульон из говядины (1,5–2 часа), снимая пену. Мясо достаньте и нарежьте.
2. Свёклу натрите на крупной тёрке и потушите на сковороде с томатной пастой и уксусом 10–15 минут — уксус сохранит яркий цвет.
3. Отдельно обжарьте лук и морковь.
4. В кипящий бульон положите нарезанный картофель, через 10 минут — нашинкованную капусту.
5. Когда картофель почти готов, добавьте свёклу, зажарку, мясо, лавровый лист, соль и перец.
6. Дайте прокипеть 5 минут, добавьте давленый чеснок, выключите огонь.

Борщ вкуснее всего, если дать ему настояться хотя бы полчаса. Подавайте со сметаной, зеленью и чёрным хлебом.""")

add("short", "ru", "Кто написал «Войну и мир»?", "Лев Толстой.")

add("code", "ru", "Напиши SQL-запрос, который выбирает всех пользователей старше 30 лет, отсортированных по фамилии.", """\
Если в таблице `users` хранится дата рождения `birth_date`:

```sql
SELECT id, first_name, last_name, birth_date
FROM users
WHERE birth_date < CURRENT_DATE - INTERVAL '30 years'
ORDER BY last_name, first_name;
```

Если же возраст хранится прямо в столбце `age`, всё ещё проще:

```sql
SELECT id, first_name, last_name, age
FROM users
WHERE age > 30
ORDER BY last_name;
```

Хранить дату рождения лучше, чем возраст, — возраст меняется каждый год, а дата рождения нет. Синтаксис `INTERVAL '30 years'` работает в PostgreSQL; в MySQL используйте `DATE_SUB(CURDATE(), INTERVAL 30 YEAR)`.""")

add("code", "ru", "Объясни разницу между списком и кортежем в Python.", """\
Главное отличие: **список (`list`) изменяемый, а кортеж (`tuple`) — нет.**

```python
lst = [1, 2, 3]
lst[0] = 10      # можно
lst.append(4)    # можно

tpl = (1, 2, 3)
tpl[0] = 10      # TypeError: 'tuple' object does not support item assignment
```

Другие различия:

- **Хешируемость.** Кортеж из неизменяемых элементов можно использовать как ключ словаря или элемент множества, список — нельзя.
- **Смысл.** Список обычно хранит однородные элементы, количество которых может меняться (например, список пользователей). Кортеж — фиксированную запись с разнородными полями (например, координаты `(широта, долгота)`).
- **Производительность.** Кортежи чуть быстрее создаются и занимают немного меньше памяти.

Для именованных записей удобно использовать `collections.namedtuple` или `dataclasses`.""")

add("list", "ru", "Как быстро выучить английские слова? Дай несколько советов.", """\
1. **Интервальные повторения.** Используйте карточки (например, Anki): слово повторяется именно тогда, когда вы вот-вот его забудете.
2. **Учите слова в контексте.** Запоминайте не «apple — яблоко», а целую фразу: *I ate an apple for breakfast*.
3. **Говорите вслух.** Произносите слова и придумывайте с ними собственные предложения.
4. **Группируйте по темам.** Слова «кухня», «путешествия», «работа» легче запоминаются вместе.
5. **Читайте и слушайте то, что вам интересно** — сериалы с субтитрами, подкасты, статьи.
6. **Понемногу, но каждый день.** 15 минут ежедневно лучше, чем 3 часа раз в неделю.""")

# Arabic
add("short", "ar", "ما هي عاصمة مصر؟", "القاهرة.")

add("general", "ar", "اشرح أهمية شرب الماء للجسم.", """\
يشكّل الماء نحو 60% من وزن جسم الإنسان البالغ، وهو ضروري لكل وظائفه تقريبًا:

- **تنظيم حرارة الجسم** عن طريق التعرّق.
- **نقل العناصر الغذائية والأكسجين** إلى الخلايا عبر الدم.
- **التخلّص من الفضلات** من خلال الكليتين والبول.
- **ترطيب المفاصل** وحماية الأعضاء والأنسجة.
- **دعم التركيز والطاقة**؛ فحتى الجفاف البسيط قد يسبّب الصداع والتعب وضعف التركيز.

يُنصح عمومًا بشرب ما بين 1.5 و2 لتر يوميًا، وتزداد الحاجة في الطقس الحار أو عند ممارسة الرياضة. ومن العلامات البسيطة على الترطيب الجيد أن يكون لون البول فاتحًا.""")

add("list", "ar", "كيف أتعلم لغة جديدة بسرعة؟", """\
إليك بعض النصائح العملية:

1. **حدّد هدفًا واضحًا**، مثل إجراء محادثة بسيطة خلال ثلاثة أشهر.
2. **تعلّم الكلمات الأكثر استخدامًا أولًا**؛ فحوالي ألف كلمة تغطي معظم الحديث اليومي.
3. **مارس اللغة يوميًا** ولو لمدة 20 دقيقة.
4. **تحدّث منذ البداية** ولا تخف من الأخطاء، ويمكنك البحث عن شريك لتبادل اللغة.
5. **أحِط نفسك باللغة**: شاهد أفلامًا ومسلسلات، واستمع إلى الأغاني والبودكاست.
6. **استخدم بطاقات المراجعة المتباعدة** مثل تطبيق Anki لحفظ المفردات.

الاستمرارية أهم من عدد الساعات. بالتوفيق! 🌍""")

add("general", "ar", "اكتب رسالة شكر قصيرة لمعلمي في نهاية العام الدراسي.", """\
أستاذي العزيز،

مع نهاية هذا العام الدراسي، أودّ أن أشكرك من كل قلبي على صبرك وجهدك وتشجيعك الدائم. لقد جعلتَ الدروس ممتعة، وعلّمتني أن أطرح الأسئلة وألّا أستسلم أمام الصعوبات.

سأتذكّر دائمًا ما تعلّمته منك، داخل الفصل وخارجه.

مع خالص الاحترام والتقدير،
تلميذك سامي""")

# Hindi
add("short", "hi", "भारत की राजधानी क्या है?", "नई दिल्ली।")

add("list", "hi", "योग करने के क्या फायदे हैं?", """\
नियमित योग करने से शरीर और मन दोनों को कई लाभ मिलते हैं:

- **लचीलापन बढ़ता है** और मांसपेशियाँ मज़बूत होती हैं।
- **तनाव कम होता है।** प्राणायाम और ध्यान से मन शांत रहता है।
- **नींद बेहतर होती है।**
- **पाचन तंत्र सुधरता है।**
- **शरीर का संतुलन और मुद्रा (posture) ठीक होती है**, जिससे पीठ दर्द में राहत मिल सकती है।
- **एकाग्रता बढ़ती है।**

शुरुआत में रोज़ 15–20 मिनट काफ़ी हैं। यदि आपको कोई गंभीर बीमारी या चोट है, तो पहले डॉक्टर से सलाह ज़रूर लें। 🧘""")

add("general", "hi", "अदरक वाली चाय बनाने की विधि बताइए।", """\
**सामग्री (2 कप के लिए):**
- 1 कप पानी
- 1 कप दूध
- 2 छोटे चम्मच चाय पत्ती
- 1 इंच अदरक का टुकड़ा (कुटा हुआ)
- 2 इलायची (वैकल्पिक)
- स्वादानुसार चीनी

**विधि:**
1. एक बर्तन में पानी उबालें और उसमें कुटी हुई अदरक और इलायची डालें। 2 मिनट तक उबलने दें।
2. चाय पत्ती डालें और 1 मिनट पकाएँ।
3. दूध और चीनी डालें और उबाल आने दें।
4. आँच धीमी करके 2–3 मिनट तक पकाएँ, ताकि चाय का रंग गहरा हो जाए।
5. छानकर गरम-गरम परोसें। ☕""")

add("general", "hi", "प्रकाश संश्लेषण क्या है? सरल भाषा में समझाइए।", """\
प्रकाश संश्लेषण वह प्रक्रिया है जिसमें हरे पौधे सूर्य के प्रकाश की मदद से अपना भोजन बनाते हैं।

पौधे जड़ों से पानी और पत्तियों के छोटे-छोटे छिद्रों (रंध्रों) से हवा में मौजूद कार्बन डाइऑक्साइड लेते हैं। पत्तियों में मौजूद हरा पदार्थ, क्लोरोफ़िल, सूर्य की ऊर्जा को पकड़ता है और इन दोनों को मिलाकर ग्लूकोज़ (शर्करा) बनाता है। इस प्रक्रिया में ऑक्सीजन निकलती है, जिसे हम साँस में लेते हैं।

सरल समीकरण:
6CO₂ + 6H₂O + प्रकाश ऊर्जा → C₆H₁₂O₆ + 6O₂""")

# Korean
add("general", "ko", "김치찌개 만드는 법 알려줘.", """\
**재료 (2인분)**
- 잘 익은 김치 2컵
- 돼지고기 앞다리살 또는 삼겹살 150g
- 두부 ½모
- 대파 1대, 양파 ½개
- 고춧가루 1큰술, 다진 마늘 1작은술
- 김칫국물 ½컵, 물 2컵

**만드는 법**
1. 냄비에 기름을 약간 두르고 돼지고기를 볶다가 김치를 넣고 5분 정도 함께 볶아요.
2. 고춧가루와 다진 마늘을 넣고 1분 더 볶아요.
3. 물과 김칫국물을 붓고 끓어오르면 중불로 줄여 15분간 끓여요.
4. 양파와 두부를 넣고 5분 더 끓인 뒤, 대파를 넣고 마무리해요.
5. 싱거우면 국간장이나 소금으로 간을 맞춰요.

김치가 덜 익었다면 설탕을 아주 조금 넣으면 신맛과 감칠맛이 살아나요. 🍲""")

add("short", "ko", "한국의 수도는 어디인가요?", "서울입니다.")

add("general", "ko", "자기소개서 첫 문장 예시를 몇 가지 알려주세요.", """\
지원하는 직무와 경험에 맞게 다듬어서 사용해 보세요.

- "고객의 불편을 데이터로 증명하고 해결하는 일에서 가장 큰 보람을 느껴 왔습니다."
- "3년간 스타트업에서 일하며 작은 팀이 큰 성과를 내는 방법을 몸으로 배웠습니다."
- "'왜?'라는 질문을 멈추지 않는 습관이 저를 개발자의 길로 이끌었습니다."
- "대학 시절 봉사 동아리를 이끌며 사람을 움직이는 것은 지시가 아니라 공감이라는 것을 배웠습니다."

첫 문장은 진부한 표현(예: "저는 화목한 가정에서 태어나…")보다는 지원 직무와 연결되는 구체적인 경험이나 가치관으로 시작하는 것이 좋습니다.""")

add("code", "ko", "파이썬에서 리스트를 정렬하는 방법은?", """\
두 가지 방법이 있어요.

```python
numbers = [5, 2, 9, 1, 7]

# 1) sorted(): 새로운 리스트를 반환 (원본 유지)
new_list = sorted(numbers)
print(new_list)   # [1, 2, 5, 7, 9]
print(numbers)    # [5, 2, 9, 1, 7]

# 2) list.sort(): 원본 리스트를 직접 정렬 (반환값은 None)
numbers.sort(reverse=True)
print(numbers)    # [9, 7, 5, 2, 1]
```

`key` 인자를 사용하면 기준을 정할 수 있어요.

```python
words = ["banana", "kiwi", "apple"]
print(sorted(words, key=len))  # ['kiwi', 'apple', 'banana']
```""")

# ---------------------------------------------------------------------------
# Long-form answers
# ---------------------------------------------------------------------------

add("long", "en", "Can you explain how the internet actually works, from typing a URL to seeing the page?", """\
Sure — here's the journey of a single page load, simplified but accurate.

**1. Finding the server (DNS)**
When you type `www.example.com`, your computer first needs the server's IP address, because the network routes by numbers, not names. It asks a DNS resolver — usually run by your ISP or a public service — which checks its cache and, if needed, asks the root servers, then the `.com` servers, then the domain's own name servers. The answer (something like `93.184.216.34`) comes back, typically in a few milliseconds, and is cached for next time.

**2. Opening a connection (TCP and TLS)**
Your browser opens a TCP connection to that address on port 443. TCP is the protocol that makes delivery reliable: it numbers the data, acknowledges what arrives and resends what gets lost. Because the site uses HTTPS, the browser and server then perform a TLS handshake: the server presents a certificate proving its identity, and both sides agree on encryption keys so that nobody in between can read or tamper with the traffic.

**3. Asking for the page (HTTP)**
The browser sends an HTTP request, essentially "GET / please, and here's what formats I accept". The server — or, more likely, a content delivery network caching the site close to you — replies with a status code (200 OK) and the HTML.

**4. Packets and routing**
None of this travels as one piece. Data is split into small packets, each labelled with source and destination IP addresses. Routers along the way — at your home, your ISP, internet exchange points and backbone networks — read those labels and forward each packet one hop closer to its destination. Different packets may take different paths; TCP puts them back in order at the other end. Physically, the bits move as radio waves over Wi-Fi, electrical signals in copper and pulses of light in fibre-optic cables, including cables laid across ocean floors.

**5. Rendering**
The browser parses the HTML, discovers it needs CSS, JavaScript, images and fonts, and fetches those too (often in parallel, over the same connection thanks to HTTP/2 or HTTP/3). It builds the DOM, applies styles, calculates layout and paints pixels to your screen. JavaScript may then fetch more data and update the page.

All of that usually happens in well under a second. The key idea is layering: physical links carry bits, IP moves packets between machines, TCP makes it reliable, TLS makes it private, and HTTP gives it meaning. Each layer only has to trust the one below it, which is why the internet can grow and change without everything breaking.""")

add("long", "en", "Write a cover letter for a junior data analyst position at a healthcare company. I have a degree in economics, did an internship at a bank where I built Excel dashboards, and I've been learning SQL and Python on my own.", """\
Dear Hiring Manager,

I am excited to apply for the Junior Data Analyst position at Northbridge Health. Healthcare is a field where good analysis translates directly into better decisions for patients, and I would love to bring my background in economics and my hands-on experience with reporting to your analytics team.

During my economics degree at the University of Leeds, I focused on applied econometrics and completed a dissertation analysing regional differences in GP waiting times using publicly available NHS data. That project taught me how messy real-world data can be: I spent as much time cleaning, reconciling and documenting the data as I did modelling it, and I learned to explain my findings clearly to readers who were not statisticians.

Last summer I interned in the retail banking division at Halden Bank, where I built a set of Excel dashboards tracking branch performance and customer complaints. The previous process involved manually copying figures from four different reports every week; by restructuring the data and using pivot tables, Power Query and a few carefully designed charts, I reduced the time needed to produce the weekly report from about six hours to under one. My manager now uses the dashboard in her monthly meetings with regional directors, which taught me the value of building tools around the questions people actually ask.

Since graduating, I have been developing my technical skills independently. I completed an online SQL course and now regularly write queries involving joins, aggregations and window functions on practice datasets. I am also learning Python, using pandas for data cleaning and matplotlib and seaborn for visualisation; my most recent project, available on my GitHub, explores hospital readmission rates from a public dataset and identifies the factors most strongly associated with readmission within 30 days.

What draws me to Northbridge Health in particular is your work on reducing missed outpatient appointments, which I read about in your annual report. It is exactly the kind of problem where careful analysis of patterns — by time of day, demographics, or how reminders are sent — can make a measurable difference, and I would be thrilled to contribute to projects like that while continuing to learn from experienced analysts.

I am a quick learner, detail-oriented, and comfortable asking questions when something does not add up. I would welcome the opportunity to discuss how I could support your team. Thank you for considering my application.

Yours sincerely,
Emma Clarke""")

add("long", "en", "How did the printing press change Europe?", """\
Johannes Gutenberg's movable-type printing press, developed in Mainz around 1440 and used for his famous Bible around 1455, is often ranked among the most consequential inventions in history. Its effects unfolded over more than a century and touched almost every part of European life.

**An explosion in the number of books.** Before the press, books were copied by hand, mostly in monasteries and university workshops. They were expensive and rare. By 1500, presses in more than 250 European cities had produced an estimated 20 million volumes, and output kept rising through the sixteenth century. The cost of a book fell dramatically, putting texts within reach of merchants, lawyers, artisans and eventually ordinary households.

**The Reformation.** Martin Luther's challenge to the Catholic Church in 1517 spread with unprecedented speed because it was printed. His pamphlets, written in German rather than Latin, were reprinted across the Holy Roman Empire within weeks, and his translation of the Bible into German allowed people to read scripture for themselves. Both Protestant and Catholic sides quickly learned to use print for propaganda, turning religious debate into a mass-media event.

**Science and scholarship.** Printing made it possible to produce identical copies of texts, diagrams and tables. Scholars in different cities could now be sure they were looking at the same figure or the same star catalogue, and errors could be corrected in later editions instead of multiplying with each hand copy. Works like Copernicus's *De revolutionibus* (1543) and Vesalius's anatomical atlas *De humani corporis fabrica* (1543) reached readers across the continent. Historians see this standardisation and circulation as an important precondition for the Scientific Revolution.

**Languages and national identity.** Printers wanted to sell to as many readers as possible, which encouraged standardised spelling and grammar in vernacular languages. Printed works in English, French, German and Italian helped fix those languages into forms closer to the modern ones and contributed to a sense of shared national culture.

**Literacy and education.** Cheaper books and the Protestant emphasis on reading the Bible went hand in hand with a gradual rise in literacy, grammar schools and universities. Over the long term, this created a reading public for newspapers, which appeared in the early seventeenth century, and for the pamphlets and books of the Enlightenment.

**Control and censorship.** Authorities were well aware of print's power. The Catholic Church issued its Index of Prohibited Books in 1559, and governments licensed printers and censored publications. The struggle over who could print what is part of the long history that led to modern ideas about freedom of the press.

In short, the printing press did not cause these changes on its own, but it greatly accelerated the spread of ideas, and in doing so it helped reshape religion, science, politics and everyday culture in Europe.""")

add("long", "en", "I'm 28 and want to start investing but know nothing. Explain index funds and how to get started.", """\
Starting at 28 is a great position to be in, because time is the biggest advantage an investor can have. Here's a plain-English overview. (This is general education, not personalised financial advice.)

**What an index fund is**

An index is a list of companies that represents part of the market — for example, the S&P 500 tracks 500 large US companies, and the MSCI World tracks around 1,500 large companies across developed countries. An index fund simply buys all the companies in that index, in the same proportions. When you buy one share of the fund, you own a tiny slice of every company in it.

**Why people recommend them**

1. **Diversification.** Instead of betting on a few companies, you own hundreds or thousands. If one goes bust, it barely dents your portfolio.
2. **Low costs.** Because nobody is paid to pick stocks, fees are tiny — often 0.03% to 0.25% per year, compared with 1% or more for many actively managed funds. Over decades, that difference compounds into tens of thousands.
3. **Good results.** Most professional fund managers fail to beat their benchmark index over 15–20 years once fees are included. Buying the index means you get the market return, minus a small fee.
4. **Simplicity.** You don't need to research companies or time the market.

**How to get started**

1. **Build a foundation first.** Pay off high-interest debt like credit cards, and keep an emergency fund of three to six months of expenses in a savings account. Investments can fall 30% in a bad year, and you don't want to be forced to sell at the bottom.
2. **Use tax-advantaged accounts.** Depending on your country, that might be a workplace pension or 401(k) (especially if your employer matches contributions — that's free money), an IRA, or an ISA in the UK. Check what's available where you live.
3. **Open an account with a low-cost provider** and choose a broad, cheap fund — for example a global all-world index fund or an ETF tracking the total market.
4. **Automate it.** Set up a fixed monthly contribution, even if it's small. This is called dollar-cost averaging, and it removes the temptation to guess the "right" time.
5. **Leave it alone.** Don't check it daily, and don't panic-sell in downturns. Markets have historically recovered from every crash, though past performance doesn't guarantee future returns.

**How much difference does it make?**

If you invest 300 a month from age 28 to 65 and earn an average of 7% per year after inflation, you'd end up with roughly 600,000 in today's money, while contributing only about 133,000 yourself. That's the power of compounding.

A good next step is to read a beginner-friendly book like *The Simple Path to Wealth* by JL Collins, or the Bogleheads wiki, which covers these ideas in much more depth.""")

add("long", "en", "Build me a small command-line to-do app in Python that stores tasks in a JSON file. It should support add, list, done and remove.", """\
Here's a complete, dependency-free implementation using `argparse` and `json`:

```python
#!/usr/bin/env python3
import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

DB_PATH = Path.home() / ".todo.json"


def load_tasks():
    if not DB_PATH.exists():
        return []
    with DB_PATH.open(encoding="utf-8") as f:
        return json.load(f)


def save_tasks(tasks):
    tmp = DB_PATH.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(tasks, f, indent=2, ensure_ascii=False)
    tmp.replace(DB_PATH)  # atomic on POSIX: no half-written file


def next_id(tasks):
    return max((t["id"] for t in tasks), default=0) + 1


def cmd_add(args):
    tasks = load_tasks()
    task = {
        "id": next_id(tasks),
        "title": " ".join(args.title),
        "done": False,
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    tasks.append(task)
    save_tasks(tasks)
    print(f"Added #{task['id']}: {task['title']}")


def cmd_list(args):
    tasks = load_tasks()
    if not args.all:
        tasks = [t for t in tasks if not t["done"]]
    if not tasks:
        print("Nothing to do. 🎉")
        return
    for t in tasks:
        mark = "x" if t["done"] else " "
        print(f"[{mark}] {t['id']:>3}  {t['title']}")


def find(tasks, task_id):
    for t in tasks:
        if t["id"] == task_id:
            return t
    sys.exit(f"No task with id {task_id}")


def cmd_done(args):
    tasks = load_tasks()
    task = find(tasks, args.id)
    task["done"] = True
    save_tasks(tasks)
    print(f"Completed #{task['id']}: {task['title']}")


def cmd_remove(args):
    tasks = load_tasks()
    task = find(tasks, args.id)
    tasks.remove(task)
    save_tasks(tasks)
    print(f"Removed #{task['id']}")


def main():
    parser = argparse.ArgumentParser(prog="todo", description="A tiny to-do list.")
    sub = parser.add_subparsers(dest="command", required=True)

    p_add = sub.add_parser("add", help="add a task")
    p_add.add_argument("title", nargs="+")
    p_add.set_defaults(func=cmd_add)

    p_list = sub.add_parser("list", help="show open tasks")
    p_list.add_argument("-a", "--all", action="store_true", help="include completed")
    p_list.set_defaults(func=cmd_list)

    p_done = sub.add_parser("done", help="mark a task as done")
    p_done.add_argument("id", type=int)
    p_done.set_defaults(func=cmd_done)

    p_rm = sub.add_parser("remove", help="delete a task")
    p_rm.add_argument("id", type=int)
    p_rm.set_defaults(func=cmd_remove)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
```

Example session:

```bash
$ python todo.py add Buy oat milk
Added #1: Buy oat milk
$ python todo.py add Renew passport
Added #2: Renew passport
$ python todo.py done 1
Completed #1: Buy oat milk
$ python todo.py list --all
[x]   1  Buy oat milk
[ ]   2  Renew passport
```

A few design notes:

- **Atomic saves.** Writing to a temporary file and then calling `replace` means a crash mid-write can't corrupt your task list.
- **Stable IDs.** IDs are derived from the current maximum, so removing task 2 doesn't renumber task 3.
- **Subcommands** are wired with `set_defaults(func=...)`, which keeps `main` short and makes adding new commands easy — for example an `edit` command or a `--due` date option.""")

add("long", "en", "Write a short story (around 400 words) about a lighthouse keeper who receives an unexpected visitor.", """\
The storm had been building for three days when the knock came.

Elias Varga had kept the light on Carrow Point for twenty-two years, and in that time nobody had ever knocked. The supply boat came on the first Monday of the month, blew its horn twice, and left crates on the jetty. The inspectors sent letters. The sea, which was his only regular company, did not knock; it simply let itself in through the cracks under the door.

He opened the door to find a girl of perhaps ten, soaked to the bone, holding a tin lantern that had long since gone out.

"Is this the lighthouse?" she asked, as if there could be any doubt.

He brought her in, wrapped her in the blanket from his own bed, and put the kettle on the stove. She told him her name was Nell, that her father's fishing boat had been caught on the rocks below the headland, and that she had climbed the cliff path in the dark because she could see his light and thought it must mean someone was there.

"Your father?" Elias asked.

"He told me to go. He said he'd follow."

Elias looked at the window, where the rain hit the glass like thrown gravel. Then he took his oilskin from the hook.

The cliff path was a river of mud. Twice he slipped and caught himself on the gorse. At the bottom, in the weak circle of his torch, he found the boat tipped on its side and a man clinging to the rocks, one arm useless, his face grey with cold. Elias did not remember afterwards how he got him up the path. He remembered only the light above them, turning and turning, steady as a heartbeat, showing him the way home.

In the morning the storm had blown itself out. The lifeboat came from Port Alwen and took father and daughter to the hospital. Before she left, Nell pressed her lantern into his hands.

"For when yours breaks," she said.

It never did. But Elias kept the little tin lantern on the windowsill beside the great lens, and on clear nights, when the beam swept out across the quiet water, he sometimes thought of it as two lights instead of one: the one that warned ships away, and the one that had brought someone to his door.""")

add("long", "en", "What caused the 2008 financial crisis, and what were its consequences?", """\
The 2008 financial crisis was the most severe global economic shock since the Great Depression. It had several interconnected causes.

**1. A housing bubble fuelled by cheap credit.** After the dot-com crash and 9/11, the US Federal Reserve kept interest rates low. Mortgages became cheap, house prices rose rapidly, and many people assumed they would keep rising. Lenders loosened standards dramatically: "subprime" loans were issued to borrowers with weak credit, often with low introductory "teaser" rates that would later reset much higher, and sometimes with little or no verification of income.

**2. Securitisation.** Banks didn't keep those mortgages; they bundled thousands of them into mortgage-backed securities (MBS) and then repackaged slices of those into more complex products such as collateralised debt obligations (CDOs). This spread the risk across the global financial system, but it also meant that the original lenders had little incentive to check whether borrowers could repay.

**3. Flawed credit ratings.** Rating agencies gave AAA ratings to many of these securities, partly because their models assumed house prices wouldn't fall nationally at the same time, and partly because they were paid by the banks issuing the products.

**4. Excessive leverage and hidden risk.** Investment banks were borrowing as much as 30 or 40 times their capital. Insurers like AIG sold huge volumes of credit default swaps — essentially insurance on these securities — without holding enough capital to pay out. Much of this activity took place in a lightly regulated "shadow banking" system.

**5. The trigger.** When interest rates rose and teaser rates reset from 2006 onward, defaults surged and house prices began to fall. Securities tied to mortgages lost value, and because nobody knew exactly who held the bad assets, banks stopped trusting and lending to one another. Bear Stearns was rescued in March 2008; Lehman Brothers filed for bankruptcy on 15 September 2008, and panic spread worldwide.

**Consequences**

- **A deep recession.** US unemployment rose to 10% by late 2009, millions of families lost their homes to foreclosure, and global GDP fell in 2009 for the first time in the post-war era.
- **Massive government intervention.** The US passed the $700 billion Troubled Asset Relief Program (TARP); governments around the world bailed out or nationalised banks, and central banks cut rates to near zero and launched quantitative easing.
- **The European debt crisis.** Bank rescues and recession strained public finances, contributing to sovereign debt crises in Greece, Ireland, Portugal and Spain from 2010.
- **New regulation.** The Dodd-Frank Act in the US and the international Basel III rules raised capital requirements, introduced stress tests and brought more derivatives trading into the open.
- **Political aftershocks.** Anger at bailouts and years of weak wage growth fed movements such as Occupy Wall Street and the Tea Party, and many analysts link the crisis to the rise of populist politics in the following decade.""")

add("long", "en", "Plan a 7-day trip to Italy for a first-timer who likes food, art and not too much rushing around.", """\
Here's a relaxed itinerary that covers three very different cities, with train journeys of under two hours between them.

**Day 1 – Arrive in Rome**
Check in somewhere central, like Monti or near Campo de' Fiori. Keep the first afternoon easy: walk to the Pantheon, get a gelato, and throw a coin into the Trevi Fountain in the evening when it's lit up. Dinner in Trastevere — try cacio e pepe or carbonara, the Roman classics.

**Day 2 – Ancient Rome**
Morning at the Colosseum, then the Roman Forum and Palatine Hill (book a combined ticket online in advance). Long lunch, then a siesta. In the evening, walk up to the Giardino degli Aranci on the Aventine Hill for the sunset view.

**Day 3 – Vatican and a slow afternoon**
Book an early-entry slot for the Vatican Museums and Sistine Chapel, then visit St Peter's Basilica. Spend the afternoon at Villa Borghese; if you're an art lover, the Galleria Borghese (timed tickets, book ahead) has some of the finest Bernini and Caravaggio works anywhere.

**Day 4 – Train to Florence**
The fast train takes about 1 hour 35 minutes. Drop your bags, wander to the Duomo and Ponte Vecchio, and have dinner in the Oltrarno neighbourhood. Order a bistecca alla fiorentina to share.

**Day 5 – Florence's art**
Morning at the Uffizi (Botticelli's *Birth of Venus*, Leonardo, Caravaggio), afternoon at the Accademia to see Michelangelo's *David*. Pre-book both. At sunset, walk or take the bus up to Piazzale Michelangelo.

**Day 6 – Tuscan countryside or Bologna**
Two options: a small-group day trip to the Chianti wine region, with lunch at a winery; or a 35-minute train to Bologna, Italy's food capital, for a market tour, fresh tortellini and mortadella, then back to Florence for the night.

**Day 7 – Venice**
Take an early train to Venice (about 2 hours 15 minutes). Get lost in the back streets away from San Marco, ride the vaporetto along the Grand Canal, and stop for cicchetti (Venetian tapas) and a spritz in a bacaro. If you're flying out the next morning, spend the night here; Venice after the day-trippers leave is magical.

**Practical tips**
- Buy train tickets on Trenitalia or Italo a few weeks ahead for the best prices.
- Many churches require covered shoulders and knees.
- Coffee at the bar is cheaper than at a table, and cappuccino is a morning drink for most Italians.
- Avoid restaurants with photo menus and staff outside inviting you in; walk two streets further.
- Museums are closed on certain days (many on Mondays), so check before you go.

Buon viaggio! 🇮🇹""")

add("long", "en", "Implement a generic stack in Rust with push, pop, peek, is_empty and len, and include unit tests. Please explain the design.", """\
Here's a straightforward implementation backed by a `Vec<T>`:

```rust
/// A last-in, first-out stack.
#[derive(Debug, Default, Clone)]
pub struct Stack<T> {
    items: Vec<T>,
}

impl<T> Stack<T> {
    /// Creates an empty stack.
    pub fn new() -> Self {
        Stack { items: Vec::new() }
    }

    /// Creates an empty stack with room for `capacity` items.
    pub fn with_capacity(capacity: usize) -> Self {
        Stack { items: Vec::with_capacity(capacity) }
    }

    /// Pushes an item onto the top of the stack.
    pub fn push(&mut self, item: T) {
        self.items.push(item);
    }

    /// Removes and returns the top item, or `None` if the stack is empty.
    pub fn pop(&mut self) -> Option<T> {
        self.items.pop()
    }

    /// Returns a reference to the top item without removing it.
    pub fn peek(&self) -> Option<&T> {
        self.items.last()
    }

    /// Returns a mutable reference to the top item.
    pub fn peek_mut(&mut self) -> Option<&mut T> {
        self.items.last_mut()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_stack_is_empty() {
        let s: Stack<i32> = Stack::new();
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert_eq!(s.peek(), None);
    }

    #[test]
    fn push_then_pop_is_lifo() {
        let mut s = Stack::new();
        s.push(1);
        s.push(2);
        s.push(3);
        assert_eq!(s.len(), 3);
        assert_eq!(s.pop(), Some(3));
        assert_eq!(s.pop(), Some(2));
        assert_eq!(s.pop(), Some(1));
        assert_eq!(s.pop(), None);
    }

    #[test]
    fn peek_does_not_remove() {
        let mut s = Stack::new();
        s.push("a");
        assert_eq!(s.peek(), Some(&"a"));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn peek_mut_modifies_top() {
        let mut s = Stack::new();
        s.push(String::from("hello"));
        if let Some(top) = s.peek_mut() {
            top.push_str(", world");
        }
        assert_eq!(s.pop().as_deref(), Some("hello, world"));
    }
}
```

Run the tests with `cargo test`.

**Design notes**

- **Why `Vec<T>`?** A vector already gives amortised O(1) push and pop at the end, stores items contiguously (good for the CPU cache), and handles growth for us. A linked list would add an allocation per element for no benefit.
- **Generics.** `Stack<T>` works for any type. No trait bounds are needed on the struct itself; `#[derive(Debug, Default, Clone)]` only adds those implementations when `T` supports them.
- **`Option` instead of panicking.** `pop` and `peek` return `Option`, so callers must handle the empty case explicitly. That's idiomatic Rust and avoids runtime panics.
- **Borrowing.** `peek` returns `Option<&T>` so you can look without taking ownership; `peek_mut` lets you modify the top element in place. The borrow checker guarantees you can't `push` while holding a reference from `peek`, which prevents dangling references if the vector reallocates.
- **`is_empty` alongside `len`.** Clippy's `len_without_is_empty` lint expects both, and it's what users of Rust collections are used to.

A natural extension would be implementing `IntoIterator` and `FromIterator` so you can write `let s: Stack<_> = (1..=5).collect();`.""")

add("long", "en", "SQL vs NoSQL: how do I choose a database for a new project?", """\
The honest answer is that for most new projects, a relational (SQL) database such as PostgreSQL is the safest default — but there are real cases where a NoSQL database is a better fit. Here's how to think about it.

**What SQL databases are good at**

Relational databases (PostgreSQL, MySQL, SQL Server, SQLite) store data in tables with a fixed schema and let you relate tables through keys.

- **Data integrity.** Constraints, foreign keys and ACID transactions make sure, for example, that money is never debited from one account without being credited to another.
- **Flexible querying.** SQL lets you ask questions you didn't anticipate when you designed the schema — joins, aggregations, window functions, reports.
- **Maturity.** Decades of tooling, documentation, hosting options and people who know how to run them.
- **More flexible than their reputation.** PostgreSQL has excellent JSON support, full-text search and extensions for geospatial data and time series.

**The main NoSQL families**

- **Document stores** (MongoDB, Couchbase): store JSON-like documents. Good when records are naturally self-contained and their shape varies, e.g. product catalogues with very different attributes.
- **Key-value stores** (Redis, DynamoDB): extremely fast lookups by key. Ideal for caching, sessions, rate limiting and leaderboards.
- **Wide-column stores** (Cassandra, ScyllaDB): designed for massive write volumes spread across many machines, such as IoT telemetry or event logs.
- **Graph databases** (Neo4j): optimised for traversing relationships, e.g. social networks or fraud detection.

**Questions to ask**

1. **How relational is your data?** Users, orders, products and invoices that reference each other point strongly to SQL.
2. **Do you need multi-record transactions?** Anything involving money or inventory usually does.
3. **What are your access patterns?** If you know you'll always fetch data by a single key at very high volume, a key-value or wide-column store can be simpler and cheaper to scale.
4. **What's your scale, really?** A single well-tuned PostgreSQL server handles far more traffic than most applications will ever see. Don't choose a distributed database for a scale problem you don't have.
5. **What does your team know?** Operational experience matters more than benchmark charts.

**A pragmatic approach**

Start with PostgreSQL as your system of record. Add specialised stores when a concrete need appears: Redis for caching, a search engine like Elasticsearch or OpenSearch for full-text search, or a column store for analytics. Many successful systems use several databases, each for what it does best — often called *polyglot persistence*.""")

add("general", "en", "Turn this tab-separated data into a Markdown table:\n\nname\tlanguage\tyear\nGuido van Rossum\tPython\t1991\nBrendan Eich\tJavaScript\t1995\nGraydon Hoare\tRust\t2010\n", """\
| name | language | year |
|---|---|---|
| Guido van Rossum | Python | 1991 |
| Brendan Eich | JavaScript | 1995 |
| Graydon Hoare | Rust | 2010 |""")

add("general", "en", "Rewrite the following sentence in the passive voice: \"The committee approved the new budget on Tuesday.\"", "The new budget was approved by the committee on Tuesday.")

add("general", "en", "Why can't you divide by zero?", """\
Division is defined as the inverse of multiplication: a ÷ b = c means c × b = a. Now try 6 ÷ 0 = c. That would require c × 0 = 6, but anything times zero is 0, so no number c works.

And 0 ÷ 0 fails for the opposite reason: c × 0 = 0 is true for *every* c, so there's no single answer.

In calculus you can look at what happens as the divisor *approaches* zero — 1/x grows without bound as x → 0⁺ and heads to −∞ as x → 0⁻ — but that's a statement about a limit, not a value for 1/0 itself.""")


# ---------------------------------------------------------------------------
# Derived records: the same Q/A in different prompt formats, and a few
# multi-question prompts that combine two hand-written pairs.
# ---------------------------------------------------------------------------

ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
)
ALPACA_INPUT_PREAMBLE = (
    "Below is an instruction that describes a task, paired with an input that "
    "provides further context. Write a response that appropriately completes "
    "the request.\n\n"
)

SYSTEM_PROMPTS = {
    "en": [
        "You are a helpful assistant.",
        "You are a patient tutor. Explain your reasoning clearly.",
        "You are a knowledgeable assistant. Answer accurately and use Markdown where it helps.",
        "You are an expert who gives practical, friendly answers.",
    ],
    "de": ["Du bist ein hilfreicher Assistent."],
    "fr": ["Tu es un assistant serviable et précis."],
    "es": ["Eres un asistente útil y amable."],
    "zh": ["你是一个乐于助人的助手。"],
    "ja": ["あなたは親切なアシスタントです。"],
    "ru": ["Ты — полезный ассистент."],
    "ar": ["أنت مساعد مفيد."],
    "hi": ["आप एक मददगार सहायक हैं।"],
    "ko": ["당신은 친절한 도우미입니다."],
}

CODE_SYSTEM_PROMPT = "You are a senior software engineer. Give correct, idiomatic code."

EN_OPENERS = ["Sure! ", "Of course. ", "Good question. ", "Happy to help. "]


def fmt_alpaca(rec):
    p = rec["prompt"].strip()
    if "\n\n" in p:
        instruction, context = p.split("\n\n", 1)
        return (ALPACA_INPUT_PREAMBLE + "### Instruction:\n" + instruction.strip()
                + "\n\n### Input:\n" + context.strip() + "\n\n### Response:\n")
    return ALPACA_PREAMBLE + "### Instruction:\n" + p + "\n\n### Response:\n"


def fmt_alpaca_bare(rec):
    return "### Instruction:\n" + rec["prompt"].strip() + "\n\n### Response:\n"


def fmt_qa(rec):
    return "Q: " + rec["prompt"].strip() + "\nA:"


def fmt_user_assistant(rec):
    return "User: " + rec["prompt"].strip() + "\nAssistant: "


def fmt_human(rec):
    return "\n\nHuman: " + rec["prompt"].strip() + "\n\nAssistant:"


def fmt_inst(rec):
    return "[INST] " + rec["prompt"].strip() + " [/INST] "


def fmt_question_answer(rec):
    return "Question: " + rec["prompt"].strip() + "\n\nAnswer:\n"


def fmt_system(rec, rng):
    if rec["cat"] == "code" and rec["lang"] == "en" and rng.random() < 0.6:
        system = CODE_SYSTEM_PROMPT
    else:
        system = rng.choice(SYSTEM_PROMPTS[rec["lang"]])
    sep = rng.choice(["\n\n", "\n"])
    return system + sep + rec["prompt"]


def maybe_opener(rec, rng):
    r = rec["response"]
    if (rec["lang"] == "en" and rec["cat"] in ("general", "list")
            and len(r) > 200 and r[0].isupper() and rng.random() < 0.35):
        return rng.choice(EN_OPENERS) + r
    return r


def lower_first(s):
    return s[0].lower() + s[1:] if s and not s.startswith(("I ", "I'", "SQL", "Python")) else s


def word_count(s):
    return len(s.split())


def combine(a, b, rng):
    pa, pb = a["prompt"].strip(), b["prompt"].strip()
    style = rng.randrange(3)
    if style == 0:
        prompt = "Two quick questions:\n\n1. " + pa + "\n2. " + pb + "\n"
    elif style == 1:
        prompt = ("I have a couple of things I'd like help with.\n\nFirst: " + pa
                  + "\n\nSecond: " + pb)
    else:
        prompt = pa + " Also, " + lower_first(pb)
    if style == 2:
        response = a["response"] + "\n\n---\n\nAs for your second question:\n\n" + b["response"]
    else:
        response = ("**1. " + pa + "**\n\n" + a["response"] + "\n\n**2. " + pb
                    + "**\n\n" + b["response"])
    return {"cat": "combined", "lang": "en", "prompt": prompt, "response": response}


def build_records():
    rng = random.Random(SEED)
    base = [dict(r) for r in BASE]
    records = []
    seen = set()

    def push(rec):
        if rec["prompt"] in seen:
            return False
        seen.add(rec["prompt"])
        records.append(rec)
        return True

    # 1. Hand-written records, with a few trailing-whitespace variations on
    #    the prompt ending (newline or space), as found in scraped data.
    for rec in base:
        roll = rng.random()
        if rec["prompt"][-1] not in "\n ":
            if roll < 0.10:
                rec["prompt"] += "\n"
            elif roll < 0.15:
                rec["prompt"] += " "
        push(rec)

    # 2. Thirty Alpaca-style "### Instruction:" records.
    candidates = [r for r in BASE if r["cat"] != "combined"]
    alpaca = 0
    while alpaca < 30:
        rec = rng.choice(candidates)
        fmt = fmt_alpaca if rng.random() < 0.6 else fmt_alpaca_bare
        if push({"cat": rec["cat"], "lang": rec["lang"], "prompt": fmt(rec),
                 "response": rec["response"]}):
            alpaca += 1

    # 3. Multi-question prompts combining two medium-length English answers.
    mediums = [r for r in BASE
               if r["lang"] == "en" and r["cat"] in ("general", "list")
               and "\n" not in r["prompt"].strip()
               and 130 <= word_count(r["response"]) <= 330]
    combined = 0
    while combined < 10:
        a, b = rng.sample(mediums, 2)
        total = word_count(a["response"]) + word_count(b["response"])
        if not 300 <= total <= 650:
            continue
        if push(combine(a, b, rng)):
            combined += 1

    # 4. Fill the rest with chat-template and system-prompt variants.
    formats_any = [fmt_qa, fmt_user_assistant, fmt_inst, fmt_question_answer]
    formats_en = formats_any + [fmt_human]
    pool = [r for r in BASE if r["cat"] != "long"]
    while len(records) < N_RECORDS:
        rec = rng.choice(pool)
        if rng.random() < 0.45:
            prompt = fmt_system(rec, rng)
        else:
            fmts = formats_en if rec["lang"] == "en" else formats_any
            prompt = rng.choice(fmts)(rec)
        push({"cat": rec["cat"], "lang": rec["lang"], "prompt": prompt,
              "response": maybe_opener(rec, rng)})

    rng.shuffle(records)
    out = []
    for i, rec in enumerate(records, start=1):
        assert isinstance(rec["prompt"], str) and rec["prompt"].strip()
        assert isinstance(rec["response"], str) and rec["response"].strip()
        out.append({"id": "s%04d" % i, "prompt": rec["prompt"], "response": rec["response"]})
    return out


def write_jsonl(records, path):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_csv(records, path):
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["id", "prompt", "response"],
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)


def main():
    records = build_records()
    assert len(records) == N_RECORDS, len(records)
    write_jsonl(records, os.path.join(HERE, "instructions.jsonl"))
    write_csv(records, os.path.join(HERE, "instructions.csv"))
    print("wrote %d records to %s" % (len(records), HERE))


if __name__ == "__main__":
    main()
