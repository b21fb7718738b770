"""Instruct-SkillMix's prompts. Word for word from the official code (github.com/princeton-pli/Instruct-SkillMix):
the five-turn generation conversation (src/data_generation/prompts/generate_gpt-4-turbo-2024-04-09.json) and the
shirker prompts (prompts/generate_gpt-4-turbo-2024-04-09_junk.json and _brevity.json). Ours: the two extraction
prompts (the repository publishes the lists GPT-4-Turbo and Claude extracted, not the prompts that extracted them).
"""
from __future__ import annotations

# ----------------------------------------------------------------------------------------------------
# Stage 1: skill extraction (our prompts; replies in the formats of the official datasets/<model>/*.txt)

SKILLS_PROMPT = ("Here are instructions that people gave an AI assistant:\n\n{instructions}\n\nList the skills an "
                 "assistant needs to follow instructions like these. Write one skill per line, as a short snake_case "
                 "name (for example data_handling_and_analysis), with nothing else on the line.")
QUERY_TYPES_PROMPT = ("Here are instructions that people gave an AI assistant:\n\n{instructions}\n\nList the types of "
                      "query these instructions are. Give each type a heading \"### N. **Name**\" and, below it, a "
                      "definition of the type with examples, as in:\n\n### 1. **Information-Seeking**\nThis includes any "
                      "query where the user is looking to find out facts, data, explanations, or learn about a topic.")


def numbered(instructions: list[str]) -> str:
    """The seed instructions as the extraction prompts list them: "1. ...", one a line."""
    return "\n".join(f"{i}. {text}" for i, text in enumerate(instructions, 1))


def skills_prompt(instructions: list[str]) -> str:
    return SKILLS_PROMPT.format(instructions=numbered(instructions))


def query_types_prompt(instructions: list[str]) -> str:
    return QUERY_TYPES_PROMPT.format(instructions=numbered(instructions))


# ----------------------------------------------------------------------------------------------------
# Stage 2: the official prompts (src/data_generation/prompts/generate_gpt-4-turbo-2024-04-09.json), word for word

GENERATE_PROMPTS = (
    "I am creating a dataset of engaging human-AI interactions that demonstrate the capabilities and value of AI models "
    "across diverse skills. Please help me generate high-quality examples for this dataset.\n"
    "\n"
    "I will first give you a set of {num_skills} skills that are valuable to humans.\n"
    "\n"
    "Next, you would create a query that a human might plausibly ask whose answer involves using those {num_skills} "
    "skills. \n"
    "\n"
    "For this query you will generate a good length answer using your best helpfulness and wisdom. Please try to avoid "
    "generic sound queries and answers. The answer should also give some concrete details and examples, but not get "
    "verbose.\n"
    "\n"
    "Before I give you the set of {num_skills} skills, I will provide some examples involving 2 skills.\n"
    "Example 1: \n"
    "### Task Type: Information-Seeking\n"
    "### Skills: psychological_understanding, data_handling_and_analysis\n"
    "### Instruction: What are the primary psychological theories that explain the impact of social media on adolescent "
    "self-esteem, and what evidence supports these theories? Additionally, what statistical techniques have been used in "
    "the literature to dissect these relationships, and how do these techniques help in understanding the nuances of "
    "psychological data?\n"
    "### Response: The impact of social media on adolescent self-esteem is a widely studied topic within psychology. "
    "Various theories and statistical techniques are employed to understand and measure these effects. Below, I'll outline "
    "some of the primary theories, the supporting evidence, and the statistical techniques used in this research.\n"
    "### Response: The impact of social media on adolescent self-esteem is a widely studied topic within psychology. "
    "Various theories and statistical techniques are employed to understand and measure these effects. Below, I'll outline "
    "some of the primary theories, the supporting evidence, and the statistical techniques used in this research.\n"
    "\n"
    "**Psychological Theories and Evidence**\n"
    "\n"
    "Social Comparison Theory: Adolescents often assess their worth by comparing themselves with peers on social media. A "
    "study by Vogel et al. (2014) found that Facebook usage was associated with negative self-perceptions when users "
    "compared themselves to others they perceived as better off. This suggests a direct correlation between the frequency "
    "of social media use and increased feelings of inferiority.\n"
    "\n"
    "Self-Presentation Theory: Adolescents feel pressure to present themselves in an idealized way on platforms like "
    "Instagram and Snapchat. Research by Chou and Edge (2012) highlights that the need for positive feedback and fear of "
    "negative evaluations can lead to cycles of anxiety and lowered self-esteem when these expectations are not met.\n"
    "\n"
    "Media Richness Theory: Different types of social media platforms impact self-esteem differently. A study by Sherman "
    "et al. (2016) compared text-based versus image-based platforms, finding that image-based platforms (like Instagram) "
    "can exacerbate body image concerns and anxiety more than text-based platforms due to the intense focus on physical "
    "appearance.\n"
    "\n"
    "Statistical Techniques and Applications\n"
    "\n"
    "Regression Analysis: Used extensively to quantify the relationship between social media usage and self-esteem. For "
    "instance, studies might control for variables like age, gender, and socioeconomic status to isolate the effect of "
    "social media usage.\n"
    "\n"
    "Structural Equation Modeling (SEM): SEM enables researchers to construct a comprehensive model of how different "
    "factors like peer influence, media consumption, and personal traits interact to affect self-esteem. An example is "
    "Kross et al.’s (2013) study, which modeled the pathways through which social media affects mood and self-esteem over "
    "time.\n"
    "\n"
    "Longitudinal Studies and Growth Curve Modeling: These techniques provide insights into how self-esteem trajectories "
    "change over time with social media use. For instance, longitudinal research might track self-esteem changes from "
    "early to late adolescence, revealing critical periods where impacts are most pronounced.\n"
    "\n"
    "Mediation and Moderation Analyses: These are crucial for exploring underlying mechanisms and boundary conditions. For "
    "example, studies might explore how the negative impact of social media on self-esteem can be mediated by social "
    "support or moderated by individual resilience.\n"
    "\n"
    "**Contradictory Evidence**\n"
    "\n"
    "While many studies suggest a negative impact of social media on self-esteem, some research offers a different "
    "perspective. For instance, Valkenburg et al. (2006) found that online interactions can enhance well-being by "
    "providing social support and a platform for self-expression. These findings suggest that the impact of social media "
    "on self-esteem is not universally negative and can vary based on usage patterns and individual differences.\n"
    "\n"
    "**Practical Implications**\n"
    "\n"
    "Understanding these dynamics is crucial for developing targeted interventions. For instance, educational programs "
    "that teach critical media literacy can help adolescents navigate social media healthily. Moreover, knowing which "
    "aspects of social media use trigger negative self-comparisons can guide the development of features that promote "
    "positive interaction and reduce the emphasis on appearance.\n"
    "\n"
    "Example 2: \n"
    "### Task Type: Help-Seeking\n"
    "### Skills:  self_reflection_skills, linguistics\n"
    "### Instruction: I often find myself in conflicts at work due to miscommunication and differing perspectives. How can "
    "I improve my conflict resolution skills by incorporating self-reflection and effective communication techniques into "
    "my daily interactions with colleagues?\n"
    "### Response: To enhance your conflict resolution skills in the workplace, integrate these self-reflection and "
    "linguistic strategies into your daily routine:\n"
    "Self-Reflection Techniques:\n"
    "End-of-Day Review: Spend 10 minutes reflecting on interactions, noting successes and areas for improvement. For "
    "example, \"I successfully de-escalated a tense situation with a client by actively listening to their concerns and "
    "finding a mutually beneficial solution.\"\n"
    "Conflict Log: Record details of conflicts, your responses, and outcomes in a dedicated journal. Analyze patterns "
    "monthly to identify growth opportunities. For instance, \"I noticed I tend to become defensive when criticized. I "
    "will practice pause and respond techniques to improve my reactions.\"\n"
    "Linguistic Techniques:\n"
    "Empathy Statements: Use phrases that demonstrate understanding and validate others' perspectives, such as \"I can see "
    "why you feel that way\" or \"That must be challenging for you.\" In a recent meeting, saying \"I understand your "
    "frustration with the project timeline\" helped a coworker feel heard and open to finding a solution together.\n"
    "Reflective Listening: Paraphrase the other person's key points before responding to ensure clarity and show you're "
    "listening. For example, \"So, what I'm hearing is that you're concerned about the budget allocation. Let's discuss "
    "some options to address that.\"\n"
    "Integration into Routine:\n"
    "Weekly Practice Sessions: Dedicate an hour each week to role-play conflict scenarios with a trusted colleague, "
    "focusing on applying self-reflection insights and linguistic techniques. Provide each other with constructive "
    "feedback for continuous improvement.\n"
    "Real-Time Application: When a conflict arises, take a moment to mentally review your phrase bank and select an "
    "appropriate response. After the interaction, briefly reflect on what worked well and what could be improved next "
    "time.\n"
    "By consistently practicing these strategies, you'll build stronger habits and enhance your overall conflict "
    "resolution skills in the workplace.\n"
    "\n"
    "Example 3: \n"
    "### Task Type: Information-Seeking\n"
    "### Skills: geographical_and_historical_knowledge, analytical_thinking\n"
    "### Instruction: What were the major geopolitical changes in Europe following World War II, and how have these "
    "changes influenced current European political boundaries?\n"
    "### Response: **Major Geopolitical Changes in Europe After World War II**\n"
    "\n"
    "1. Division of Germany: The division of Germany into East and West Germany in 1949 was a critical symbol of the Cold "
    "War's onset. This division, marked physically by the Berlin Wall from 1961, lasted until the reunification in 1990 "
    "and significantly influenced European political dynamics.\n"
    "\n"
    "2. Creation of the Iron Curtain: Winston Churchill's term, the \"Iron Curtain,\" described the ideological and "
    "physical boundary separating the Soviet-controlled Eastern Bloc and the Western democracies. This division dictated "
    "political alignments and conflicts during the Cold War, influencing policies and international relations.\n"
    "\n"
    "3. Decolonization: Following the war, European powers like Britain and France began a significant process of "
    "decolonization. This period saw the independence of nations such as India in 1947 and the rapid decolonization of "
    "Africa in the 1960s, marking a major shift in global dynamics and European foreign policies.\n"
    "\n"
    "4. Formation of the European Union (EU): The EU's origins lie in the European Coal and Steel Community in 1951, "
    "evolving into the European Economic Community by 1957. These alliances, expanding to include more countries over the "
    "decades, aimed to foster economic cooperation and prevent further wars in Europe, influencing both economic and "
    "political policies within the continent.\n"
    "\n"
    "5. NATO and the Warsaw Pact: The establishment of NATO in 1949 by Western countries was a strategic move for "
    "collective security against the Soviet threat. The Soviet response, the Warsaw Pact in 1955, defined the military "
    "alliances in Europe, solidifying the East-West divide.\n"
    "\n"
    "**Influence on Current European Political Boundaries**\n"
    "\n"
    "1. German Reunification: The fall of the Berlin Wall in 1989 and the subsequent reunification of East and West "
    "Germany in 1990 reshaped Germany's role in Europe, altering both its internal and external political boundaries.\n"
    "\n"
    "2. EU Expansion: The EU's expansion has included many former Eastern Bloc countries, fundamentally changing the "
    "political landscape of Europe. The Schengen Agreement, implemented in 1995, minimized the importance of national "
    "boundaries within the EU, promoting free movement and economic integration.\n"
    "\n"
    "3. Breakup of Yugoslavia and the Soviet Union: The disintegration of Yugoslavia into seven successor states "
    "throughout the 1990s and the Soviet Union into 15 independent countries in 1991 dramatically redrew political "
    "boundaries. These events, rooted in ethnic tensions and political upheavals, continue to influence regional stability "
    "and alignments.\n"
    "\n"
    "**Case Studies: Key Treaties and Shifts in Alliances**\n"
    "\n"
    "1. Treaty of Paris (1951): This treaty established the European Coal and Steel Community, a foundational step towards "
    "European integration. It set precedents for future economic policies and cooperative frameworks within Europe, "
    "promoting peace and economic stability across former wartime adversaries.\n"
    "\n"
    "2. Impact of NATO and the Warsaw Pact on Poland: Poland's transition from a Warsaw Pact member to a NATO member in "
    "1999 exemplifies the dramatic shift in military and political alliances. This change significantly influenced "
    "Poland's foreign and security policies, reflecting broader geopolitical shifts in Eastern Europe post-Cold War.\n"
    "\n"
    "\n"
    "\n"
    "Now, it is your turn! Given the guidelines and examples above, please create a query that aligns with the following "
    "task type:\n"
    "{query_type}\n"
    "\n"
    ". Include specific text snippets when they are essential to analyze and validate your query effectively. Make sure "
    "that the query is one that a human might plausibly ask whose answer involves using all skills below:\n"
    "### Task Type: {query_str}\n"
    "### Skills: {skills_str}",
    "Thanks! It looks like the response may have been cut off. Please rewrite the entire response, making sure it fits "
    "within the length constraint. No need to include verbose or extraneous information. Thanks!",
    "Pretend you are the human asking the question, and make a list of weaknesses and strengths of the response. Currently "
    "the response looks a bit generic. Perhaps it could benefit from some concrete examples and details.",
    "Now, please refine your instruction and response (keep the strong parts and work on the weak parts).",
    "It looks like the improved response may have been cut off. Please rewrite the entire improved response, making sure "
    "it fits within the length constraint. No need to include verbose or extraneous information. Thanks again!",
)
FOLLOW_UPS = GENERATE_PROMPTS[1:]  # turns 1-4: rewrite, critique, refine, rewrite the refined response


def first_prompt(skills: list[str], query: dict) -> str:
    """Turn 0 for one example: the official prompt with its skills (", "-joined, in their drawn order) and query type
    ({"query_str", "query_type"}, from `parse_query_types`), as official `generate_data` formats it."""
    skills_str = ", ".join(skills)
    return GENERATE_PROMPTS[0].format(num_skills=len(skills_str.split(",")), skills_str=skills_str,
                                      query_str=query["query_str"], query_type=query["query_type"])


# ----------------------------------------------------------------------------------------------------
# Shirkers (official 2_generate_junk_data.py; prompts/generate_gpt-4-turbo-2024-04-09_junk.json and _brevity.json)

JUNK_PROMPT = ("Greetings! Consider the following instruction: \"{instruction}\"\n"
               "\n"
               "Now, please provide an example of an extremely unhelpful response to the instruction/question. The response can "
               "illustrate laziness and be very generic. The response can be vague and should be long (include many filler words).")
BREVITY_PROMPT = ("Greetings! Consider the following instruction: \"{instruction} Please limit your response to one paragraph.\"\n"
                  "\n"
                  "Please effectively respond to the instruction in approximately on paragraph.")
SHIRKER_PROMPTS = {"junk": JUNK_PROMPT, "brevity": BREVITY_PROMPT}
